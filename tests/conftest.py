"""Shared fixtures: the store's back end, config files, the real mail stack (once per session), the
filter as a process.

The suite runs on SQLite by default and on PostgreSQL with ``MAILMON_TEST_STORE=postgresql``
(tests/store_backend.py): then one throwaway cluster serves the session, ``store_target`` and
``write_config`` give each test a schema of its own, and tests marked ``sqlite_only`` are skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailstack import MailStack, default_users
from mailstack.postgres import PostgresCluster
from tests.store_backend import (
    BACKEND,
    ON_POSTGRES,
    SQLITE_NAME,
    StoreTarget,
    Tables,
    WriteLock,
    store_target_for,
    tables,
    use_cluster,
)

__all__ = ["BACKEND", "ON_POSTGRES", "StoreTarget", "Tables", "WriteLock", "store_target_for", "tables"]  # for the tests that import them from here

REPO = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO / "tests" / "samples"


def write_config(directory: Path, extra: str = "", quarantine_in: str | None = None, **filter_keys: object) -> Path:
    """A minimal valid config whose storage lives in ``directory``: its store is
    ``store_target_for(directory)``, the SQLite file there or, on a PostgreSQL run, a schema of its own.
    ``quarantine_in`` ("files" or "database") overrides where the back end keeps quarantined bytes."""
    lines = [
        "[organization]",
        'local_domains = ["example.gov.vn"]',
        'government_domains = ["gov.vn"]',
        "[storage]",
        f'database = "{directory / SQLITE_NAME}"',
        f'spool_dir = "{directory / "spool"}"',
        f'quarantine_dir = "{directory / "quarantine"}"',
    ]
    if ON_POSTGRES:
        lines.append(f'url = "{store_target_for(directory)}"')
    if quarantine_in:
        lines.append(f'quarantine_in = "{quarantine_in}"')
    lines.append("[filter]")
    for key, value in filter_keys.items():
        lines.append(f"{key} = {value!r}" if not isinstance(value, bool) else f"{key} = {str(value).lower()}")
    path = directory / "config.toml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def mailmon(
    config: Path, *args: str, env: dict[str, str] | None = None, umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    """One `mailmon --config CONFIG ARGS…` command as a real process (2 minutes at most); ``env``
    replaces the environment, ``umask`` is set in the child before it starts."""
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path)


# --- the store's back end ------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    if ON_POSTGRES and item.get_closest_marker("sqlite_only") is not None:
        pytest.skip("about SQLite itself; this run is on PostgreSQL")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL 15 cluster on a loopback port, for the whole session."""
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session", autouse=True)
def _store_backend(request: pytest.FixtureRequest) -> Iterator[None]:
    """On a PostgreSQL run, the stores live in the session's cluster from the first test on."""
    if not ON_POSTGRES:
        yield
        return
    use_cluster(request.getfixturevalue("postgres_cluster"))
    try:
        yield
    finally:
        use_cluster(None)


@pytest.fixture
def store_target(tmp_path: Path) -> StoreTarget:
    """What to open this test's store with: ``Store(store_target)``. ``tmp_path / "mailmon.sqlite3"``,
    or on a PostgreSQL run the URL of a fresh schema; the same store ``write_config(tmp_path)`` names."""
    return store_target_for(tmp_path)


# --- the real mail stack and the filter as a real process -----------------------------------

USERS = {**default_users(), "postmaster@example.gov.vn": "pm-secret", "giamdoc@example.gov.vn": "gd-secret"}


@pytest.fixture(scope="session")
def stack() -> Iterator[MailStack]:
    """Postfix (after- and before-queue) + Dovecot + a sink, once per test session."""
    if os.geteuid() != 0:
        pytest.skip("the real mail stack needs root (Postfix and Dovecot drop privileges themselves)")
    root = Path(tempfile.mkdtemp(prefix="mailmon-test-stack-"))
    root.chmod(0o755)
    mail = MailStack(root, users=USERS, with_clamd=True)
    mail.start()
    try:
        yield mail
    finally:
        mail.stop()
        shutil.rmtree(root, ignore_errors=True)


class FilterProcess:
    """`mailmon filter` as a real process on the stack's filter port."""

    def __init__(
        self, config: Path, port: int, log: Path, command: str = "filter", env: dict[str, str] | None = None
    ) -> None:
        self.config, self.port, self.log = config, port, log
        self.command, self.env = command, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "--config", str(self.config), self.command],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            cwd=REPO,
            env={**os.environ, **(self.env or {})},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mailmon filter exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"220"):
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"mailmon filter did not answer on {self.port}:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.proc = None

    def logs(self) -> str:
        return self.log.read_text("utf-8", "replace")


FilterFactory = Callable[..., FilterProcess]


@pytest.fixture
def run_filter(stack: MailStack, tmp_path: Path) -> Iterator[FilterFactory]:
    """Start `mailmon filter` with a config for this test; extra TOML and [filter] keys allowed."""
    stack.clear()
    started: list[FilterProcess] = []

    def start(extra: str = "", **filter_keys: object) -> FilterProcess:
        keys: dict[str, object] = {
            "listen": f"127.0.0.1:{stack.ports.filter}",
            "reinject": f"127.0.0.1:{stack.ports.reinject}",
            "workers": 1,
        }
        keys.update(filter_keys)
        config = write_config(tmp_path, extra, **keys)
        proc = FilterProcess(config, stack.ports.filter, tmp_path / "filter.log")
        proc.start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
