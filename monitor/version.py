"""mailmon's version, read from the installed package's metadata (pyproject.toml [project] version)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def _installed_version() -> str:
    try:
        return version("mailmon")
    except PackageNotFoundError:  # a checkout run without `pip install`
        return "0+unknown"


VERSION = _installed_version()
