"""The security floors listed in docs/dependencies.md are the floors in pyproject.toml, and what is
installed is at or above them."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import REPO


def documented_floors() -> dict[str, Version]:
    text = (REPO / "docs" / "dependencies.md").read_text("utf-8")
    rows = re.findall(r"^\| ([a-z0-9-]+) \| ([0-9.]+)(?: \(exact\))? \|", text, re.MULTILINE)
    return {name: Version(floor) for name, floor in rows}


def test_pyproject_floors_are_past_the_documented_fixes() -> None:
    floors = documented_floors()
    assert {"pypdf", "aiosmtpd", "jinja2", "py7zr"} <= set(floors)
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    requirements = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    for name, floor in floors.items():
        assert name in requirements, f"{name} has a documented floor but is not a dependency"
        lower = [Version(s.version) for s in requirements[name].specifier if s.operator in (">=", "==")]
        assert lower and min(lower) >= floor, f"{name}: pyproject allows below {floor}"
        assert Version(version(name)) >= floor, f"{name} {version(name)} is installed, below {floor}"
