"""Which node runs each job: sweeps, digests, retention, alert mail and each log follower run on one node
at a time, chosen through the database.

With PostgreSQL a job belongs to the node whose leadership connection holds the job's session-level
advisory lock (named within the store's schema). The server releases every lock of a connection the
moment it ends: a node killed with -9 drops its socket and its jobs are free at once; a machine that
vanishes is noticed by TCP keepalives, set on this connection to give up on a silent peer after
about 25 s. Nodes that do not hold a job try again every few seconds (monitor/service/daemon.py), so
another node takes a job over well within a minute.

``job_runs`` records when each job last started, shared by every node: a job that takes over
midway through an interval runs when the interval since the last run (on any node) is over, not
at once again — one sweep per interval whichever node does it.

With SQLite there is one node: it leads every job (``SingleNode``).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.store.connection import DEFAULT_LOCK_TIMEOUT, Database

log = logging.getLogger("mailmon.leadership")

# Give up on a silent peer after idle + interval * count seconds (server side, for this session).
_KEEPALIVES = ("SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5", "SET tcp_keepalives_count = 3")


class SingleNode:
    """One node (SQLite): it leads every job."""

    def hold(self, name: str) -> bool:
        return True

    def let_go(self, name: str) -> None:
        pass

    def held(self) -> set[str]:
        return set()

    def close(self) -> None:
        pass


class Leadership:
    """Session-level advisory locks on a connection of their own (thread-safe)."""

    def __init__(self, url: str, *, password: str | None = None, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.url, self._password, self._timeout = url, password, lock_timeout
        self._mutex = threading.Lock()
        self._held: set[str] = set()
        self._conn: Any = None

    def _connection(self) -> Any:
        from monitor.store.postgres import connect

        if self._conn is not None and not self._conn.broken and not self._conn.closed:
            try:
                self._conn.execute("SELECT 1")
                return self._conn
            except Exception:
                log.warning("leadership connection lost: %s job(s) are free for another node", len(self._held))
        self._held.clear()
        self._conn = connect(self.url, self._password, self._timeout)
        for statement in _KEEPALIVES:
            self._conn.execute(statement)
        return self._conn

    def hold(self, name: str) -> bool:
        """True if this node leads ``name`` (taking it if it is free); never waits for another node."""
        with self._mutex:
            try:
                conn = self._connection()
                if name in self._held:
                    return True
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':lead:' || %s, 0))", (name,)
                ).fetchone()
            except Exception as exc:
                log.warning("leadership: cannot reach the database: %s", exc)
                self._held.clear()
                return False
            if row and row[0]:
                self._held.add(name)
                log.info("leadership: this node now runs %s", name)
                return True
            return False

    def let_go(self, name: str) -> None:
        with self._mutex:
            if name in self._held and self._conn is not None and not self._conn.broken:
                self._conn.execute(
                    "SELECT pg_advisory_unlock(hashtextextended(current_schema() || ':lead:' || %s, 0))", (name,)
                )
            self._held.discard(name)

    def held(self) -> set[str]:
        with self._mutex:
            return set(self._held)

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
            self._held.clear()


class JobRuns:
    """When each job last started, on whichever node (the ``job_runs`` table)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def start_if_due(self, name: str, now: datetime, every: timedelta) -> bool:
        """Record that ``name`` starts now if its last start is ``every`` ago or more; False if not due."""
        now = now.astimezone(UTC)
        stamp, before = now.isoformat(timespec="seconds"), (now - every).isoformat(timespec="seconds")
        with self._db.write():
            # Not "job:<name>": that key is the leadership lock itself, which this node's leadership
            # connection holds for the whole session, so this transaction would wait for it forever.
            self._db.lock("job_run:" + name)
            row = self._db.one("SELECT started FROM job_runs WHERE name = ?", (name,))
            if row is not None and str(row[0]) > before:
                return False
            self._db.execute(
                "INSERT INTO job_runs (name, started) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET started = excluded.started",
                (name, stamp),
            )
        return True

    def last_started(self, name: str) -> str | None:
        row = self._db.one("SELECT started FROM job_runs WHERE name = ?", (name,))
        return None if row is None else str(row[0])
