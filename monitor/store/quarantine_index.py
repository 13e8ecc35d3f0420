"""The quarantine's index: one row per message kept on disk, with its envelope, reason and status."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from monitor.store.connection import Database
from monitor.store.records import utcnow

_COLUMNS = (
    "id",
    "time",
    "message",
    "message_id",
    "queue_id",
    "mail_from",
    "rcpt_tos",
    "direction",
    "verdict",
    "reason",
    "path",
    "size",
    "sha256",
    "status",
)


class QuarantineIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, entry: Mapping[str, Any], data: bytes | None = None) -> None:
        """Index one kept message (keys not in the index are ignored); status 'held' unless given. With
        ``data``, the message's bytes are kept in the database, committed with the index row."""
        row = {k: entry.get(k) for k in _COLUMNS}
        row["rcpt_tos"] = json.dumps(list(entry.get("rcpt_tos", ())))
        row["time"] = row["time"] or utcnow()
        row["status"] = row["status"] or "held"
        marks = ", ".join("?" * len(_COLUMNS))
        parties = {a.lower() for a in (entry.get("mail_from") or "", *entry.get("rcpt_tos", ())) if a}
        with self._db.write():
            self._db.execute(
                f"INSERT INTO quarantine ({', '.join(_COLUMNS)}) VALUES ({marks})",  # noqa: S608 (fixed names)
                [row[k] for k in _COLUMNS],
            )
            # Who the message is from and to: the console shows it to those mailboxes' units.
            self._db.executemany(
                "INSERT INTO quarantine_parties (quarantine_id, address) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(row["id"], a) for a in sorted(parties)],
            )
            if data is not None:
                self._db.execute("INSERT INTO quarantine_messages (id, data) VALUES (?, ?)", (row["id"], data))

    def data(self, qid: str) -> bytes | None:
        """The bytes of a message kept in the database (None: not there — kept as a file, or gone)."""
        row = self._db.one("SELECT data FROM quarantine_messages WHERE id = ?", (qid,))
        return None if row is None else bytes(row[0])

    def link(self, qid: str | None, message: int) -> None:
        """The entry ``qid`` (if any) is of the recorded message ``message`` (where its findings are)."""
        if qid is not None:
            with self._db.write():
                self._db.execute("UPDATE quarantine SET message = ? WHERE id = ?", (message, qid))

    def entries(self, status: str | None = "held") -> list[dict[str, Any]]:
        """Entries with ``status`` (every entry for None), oldest first."""
        if status is None:
            rows = self._db.dicts("SELECT * FROM quarantine ORDER BY time")
        else:
            rows = self._db.dicts("SELECT * FROM quarantine WHERE status = ? ORDER BY time", (status,))
        return [_decoded(r) for r in rows]

    def entry(self, qid: str) -> dict[str, Any] | None:
        rows = self._db.dicts("SELECT * FROM quarantine WHERE id = ?", (qid,))
        return _decoded(rows[0]) if rows else None

    def set_status(self, qid: str, status: str) -> None:
        """A new status; a released or deleted entry's bytes kept in the database go with it."""
        with self._db.write():
            self._db.execute("UPDATE quarantine SET status = ? WHERE id = ?", (status, qid))
            if status in ("released", "deleted"):
                self._db.execute("DELETE FROM quarantine_messages WHERE id = ?", (qid,))

    def claim(self, qid: str, status: str) -> bool:
        """Mark an entry of ``status`` as being released, if no one (another node, another operator) did
        first; False if someone did or its status changed. ``set_status`` ends the claim."""
        with self._db.write():
            cursor = self._db.execute(
                "UPDATE quarantine SET status = 'releasing' WHERE id = ? AND status = ?", (qid, status)
            )
            return cursor.rowcount == 1

    def held_totals(self) -> tuple[int, int]:
        """(messages, bytes) held now."""
        row = self._db.one("SELECT count(*), coalesce(sum(size), 0) FROM quarantine WHERE status = 'held'")
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def kept_before(self, cutoff: str, limit: int = 500) -> list[tuple[str, str]]:
        """(id, path) of entries older than ``cutoff`` whose file is still kept, oldest first."""
        rows = self._db.all(
            "SELECT id, path FROM quarantine WHERE time < ? AND status != 'deleted' ORDER BY time LIMIT ?",
            (cutoff, limit),
        )
        return [(r[0], r[1]) for r in rows]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("rcpt_tos"), str):
        row["rcpt_tos"] = json.loads(row["rcpt_tos"])
    return row
