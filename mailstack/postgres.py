"""A throwaway PostgreSQL cluster (Debian's postgresql-15 binaries) on a free loopback port.

For the tests on the PostgreSQL store, and for a bench or a demo that wants one::

    with PostgresCluster() as cluster:               # initdb + start, in a fresh /tmp directory
        cluster.create_database("mailmon")
        cluster.create_schema("mailmon", "t1")
        url = cluster.url("mailmon", schema="t1")    # postgresql://mailmon@127.0.0.1:PORT/mailmon?options=...

``stop()`` stops the server (``pg_ctl -m fast``) and removes the directory: nothing is kept.

The cluster is not Debian's ``main`` cluster (which the package creates and may or may not run):
it has its own data directory, port and socket directory, and ``pg_ctl`` runs it directly. Run
as root, every command runs as the ``postgres`` user (the server refuses to run as root); run as
another user, as that user.

Connections: TCP on 127.0.0.1 only, and the socket in the cluster's directory. Authentication is
``trust`` — anyone on this machine may connect as any role — which is fine for a cluster that
holds test data and lives for one run, and keeps passwords out of every URL. ``url()`` names the
role ``mailmon``, which owns the databases and schemas made here and is *not* a superuser, so the
code under test runs with the rights it would have in production, not more.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

from mailstack.util import HOST, StackError, free_port, log_report, tail

SUPERUSER = "postgres"
DEFAULT_ROLE = "mailmon"
# Database and schema names made here: plain lower-case identifiers, so that a URL never needs quoting.
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Speed over durability: the cluster is thrown away at the end of the run, so a crash losing the
# last commits (fsync, synchronous_commit) or tearing a page (full_page_writes) costs nothing.
# Without them every commit of the test suite waits for the disk. max_connections: each test's
# stores and each filter/daemon process the tests start hold connections of their own.
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "listen_addresses": f"'{HOST}'",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
}


def binaries(version: str = "15") -> Path:
    """The directory of Debian's ``initdb``/``pg_ctl`` (they are not on PATH)."""
    bindir = Path("/usr/lib/postgresql") / version / "bin"
    if not (bindir / "pg_ctl").is_file():
        raise StackError(f"{bindir}/pg_ctl not found; is Debian's postgresql-{version} package installed?")
    return bindir


def checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r}: database and schema names here are [a-z_][a-z0-9_]*, at most 63 characters")
    return name


class PostgresCluster:
    """One PostgreSQL server with its data under a fresh directory; ``start()`` then ``stop()``."""

    def __init__(self, *, port: int | None = None, version: str = "15", role: str = DEFAULT_ROLE) -> None:
        self.bindir = binaries(version)
        self.port = port if port is not None else free_port()
        self.role = checked_name(role)
        self.root: Path | None = None
        self._admin: psycopg.Connection[tuple[object, ...]] | None = None
        self._lock = threading.Lock()  # the admin connection is shared; fixtures may run in threads

    # --- paths -------------------------------------------------------------------------------
    @property
    def data(self) -> Path:
        return self._root() / "data"

    @property
    def log_path(self) -> Path:
        return self._root() / "postgresql.log"

    def _root(self) -> Path:
        if self.root is None:
            raise StackError("the PostgreSQL cluster is not started")
        return self.root

    # --- life ----------------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        """initdb in a fresh directory under /tmp, start the server, create the role ``mailmon``."""
        if self.root is not None:
            raise StackError("the PostgreSQL cluster is already started")
        self.root = Path(tempfile.mkdtemp(prefix="mailstack-postgres-"))
        try:
            owner = self._owner()
            if owner is not None:
                os.chown(self.root, owner.pw_uid, owner.pw_gid)
            # Locale C: text sorts by code point, as SQLite's default collation does, so ORDER BY
            # gives the same order on both. --no-sync: nothing to flush for a throwaway cluster.
            self._run(["initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                       "--locale=C.UTF-8", "--no-sync"], timeout)
            settings = {**SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.root}'"}
            with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write("\n# mailstack: a throwaway test cluster\n")
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
            self._run(["pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", str(int(timeout)),
                       "start"], timeout + 10)
            self._admin_execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(self.role)))
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 60) -> None:
        """Stop the server (fast: open sessions are ended) and remove its directory. Safe twice."""
        with self._lock:
            admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()
        root, self.root = self.root, None
        if root is None:
            return
        try:
            if (root / "data" / "postmaster.pid").exists():
                self._run(["pg_ctl", "-D", str(root / "data"), "-m", "fast", "-w", "-t", str(int(timeout)), "stop"],
                          timeout + 10, root=root)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- databases and schemas ----------------------------------------------------------------------
    def url(self, dbname: str, *, schema: str | None = None, role: str | None = None) -> str:
        """A libpq URL of ``dbname`` on 127.0.0.1; with ``schema``, its connections use that schema
        (``options=-csearch_path=<schema>``, percent-encoded), so the tables made there land there."""
        url = f"postgresql://{checked_name(role or self.role)}@{HOST}:{self.port}/{checked_name(dbname)}"
        if schema is not None:
            url += "?options=" + quote(f"-csearch_path={checked_name(schema)}", safe="")
        return url

    def create_database(self, name: str, *, owner: str | None = None) -> str:
        """A new, empty database owned by ``owner`` (the role ``mailmon``); returns its URL."""
        self._admin_execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(checked_name(name)), sql.Identifier(checked_name(owner or self.role))
            )
        )
        return self.url(name, role=owner)

    def create_schema(self, dbname: str, schema: str, *, owner: str | None = None) -> str:
        """A new, empty schema in ``dbname`` owned by ``owner``; returns the URL that uses it."""
        role = checked_name(owner or self.role)
        with psycopg.connect(self._admin_url(dbname), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                    sql.Identifier(checked_name(schema)), sql.Identifier(role)
                )
            )
        return self.url(dbname, schema=schema, role=role)

    def _admin_url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{checked_name(dbname)}"

    def _admin_execute(self, statement: sql.Composed) -> None:
        with self._lock:
            if self._admin is None:
                self._admin = psycopg.connect(self._admin_url(), autocommit=True)
            self._admin.execute(statement)

    # --- running the binaries as the server's user ---------------------------------------------
    @staticmethod
    def _owner() -> pwd.struct_passwd | None:
        """The ``postgres`` user when run as root (the server will not run as root), else None."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SUPERUSER)
        except KeyError as exc:
            raise StackError("no 'postgres' user; is Debian's postgresql package installed?") from exc

    def _run(self, args: list[str], timeout: float, *, root: Path | None = None) -> None:
        owner = self._owner()
        command = [str(self.bindir / args[0]), *args[1:]]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False, cwd=root or self.root,
                user=owner.pw_uid if owner else None, group=owner.pw_gid if owner else None,
                extra_groups=[] if owner else None,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"{' '.join(command)} timed out after {time.monotonic() - started:.0f}s") from exc
        if proc.returncode != 0:
            log = root / "postgresql.log" if root else (self.root / "postgresql.log" if self.root else None)
            report = log_report(log) if log is not None and log.exists() else ""
            raise StackError(
                f"{' '.join(command)} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}{report}"
            )

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for a failure message."""
        return tail(self.log_path, lines)
