"""The quarantine: messages kept and indexed in the store, never delivered unless released.

Where the bytes live is ``[storage] quarantine_in``: "files" (fsynced under ``quarantine_dir``; the
default with SQLite) or "database" (a row committed with the index entry; the default with
PostgreSQL, so that every node shows, releases and deletes what any node kept — docs/scale-out.md
weighs the two). A message is in quarantine once both its bytes are durable and its index row is
committed; only then does the filter answer 250. Release re-injects it with its original envelope,
bypassing the rules.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.config import Config, split_hostport
from monitor.inspect.added_headers import field
from monitor.smtp.reinject import reinject
from monitor.smtp.spool import Spool
from monitor.store import Store
from monitor.store.files import private_dir, remove_interrupted_writes


def new_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ReleaseRaced(Exception):
    """Someone else (another node, another operator) released or changed the entry first."""


class Quarantine:
    def __init__(self, directory: Path, *, in_database: bool = False) -> None:
        self.directory = directory
        self.in_database = in_database

    @classmethod
    def of(cls, config: Config) -> Quarantine:
        return cls(config.storage.quarantine_dir, in_database=config.storage.quarantine_in_database())

    def path_for(self, qid: str) -> Path:
        return self.directory / qid[:8] / f"{qid}.eml"

    def remove_interrupted_copies(self) -> int:
        """What a kill left of a copy into the quarantine (the temp file of ``Spool.persist``, in its
        day's directory; that message was not acknowledged, Postfix still has it): the two newest days
        are where one can be. How many went."""
        days = sorted(p for p in self.directory.iterdir() if p.is_dir() and not p.is_symlink())
        return sum(remove_interrupted_writes(day) for day in days[-2:])

    def keep(self, spool: Spool, store: Store, meta: dict[str, Any]) -> str:
        """Persist the spooled message and index it; returns the quarantine id. Blocking."""
        qid = new_id()
        if self.in_database:
            data = spool.getvalue()
            digest = hashlib.sha256(data).hexdigest()
            store.quarantine.add({**meta, "id": qid, "path": "", "size": len(data), "sha256": digest}, data=data)
            return qid
        path = self.path_for(qid)
        private_dir(path.parent)
        spool.persist(path)
        store.quarantine.add(
            {**meta, "id": qid, "path": str(path), "size": path.stat().st_size, "sha256": sha256_of(path)}
        )
        return qid

    @staticmethod
    def read(store: Store, entry: dict[str, Any]) -> bytes | None:
        """The kept message's bytes, wherever they are (None once they are gone). Blocking."""
        if not entry["path"]:
            return store.quarantine.data(entry["id"])
        try:
            return Path(entry["path"]).read_bytes()
        except FileNotFoundError:
            return None

    @staticmethod
    def forget(entry: dict[str, Any]) -> None:
        """Remove a released or deleted entry's file (its bytes in the database go with its status)."""
        if entry["path"]:
            Path(entry["path"]).unlink(missing_ok=True)

    def delete(self, store: Store, qid: str) -> None:
        entry = store.quarantine.entry(qid)
        if entry is None:
            raise KeyError(qid)
        self.forget(entry)
        store.quarantine.set_status(qid, "deleted")

    async def reinject_entry(self, config: Config, entry: dict[str, Any], data: bytes) -> str:
        """Hand a kept message back to Postfix with its original envelope and an X-Mailmon-Released
        field; returns Postfix's reply ("250 2.0.0 Ok: queued as …"). A refusal raises ReinjectError
        and leaves the entry as it was: the caller records the new status only after Postfix took it.
        The command line and the console both release through this."""
        host, port = split_hostport(config.filter.reinject)
        spool = Spool(Path(config.storage.spool_dir), memory_limit=len(data) + 1)
        spool.write(data)
        try:
            result = await reinject(
                host,
                port,
                mail_from=entry["mail_from"] or "",
                rcpt_tos=list(entry["rcpt_tos"]),
                mail_options=[],
                spool=spool,
                prepend=field("X-Mailmon-Released", str(entry["id"])),
                timeout=config.filter.reinject_timeout_seconds,
                local_hostname=config.filter.hostname,
            )
        finally:
            spool.close()
        return f"{result.code} {result.text}"

    def release(self, config: Config, store: Store, entry: dict[str, Any]) -> str:
        """Re-inject a kept message (blocking; the command line's way), then mark it released and remove
        its file; returns Postfix's reply."""
        data = self.read(store, entry)
        if data is None:
            raise KeyError(entry["id"])
        if not store.quarantine.claim(entry["id"], entry["status"]):
            raise ReleaseRaced(entry["id"])
        try:
            reply = asyncio.run(self.reinject_entry(config, entry, data))
        except BaseException:
            store.quarantine.set_status(entry["id"], entry["status"])
            raise
        store.quarantine.set_status(entry["id"], "released")
        self.forget(entry)
        return reply
