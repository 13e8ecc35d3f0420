"""The quarantine: messages kept on disk (fsynced) and indexed in the store, never delivered unless released.

A message is in quarantine once both its file is durable and its index row is committed; only
then does the filter answer 250. Release re-injects it with its original envelope, bypassing the rules.
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
from monitor.store.files import private_dir


def new_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Quarantine:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, qid: str) -> Path:
        return self.directory / qid[:8] / f"{qid}.eml"

    def keep(self, spool: Spool, store: Store, meta: dict[str, Any]) -> str:
        """Persist the spooled message and index it; returns the quarantine id. Blocking."""
        qid = new_id()
        path = self.path_for(qid)
        private_dir(path.parent)
        spool.persist(path)
        store.quarantine.add(
            {**meta, "id": qid, "path": str(path), "size": path.stat().st_size, "sha256": sha256_of(path)}
        )
        return qid

    def read(self, entry: dict[str, Any]) -> bytes:
        return Path(entry["path"]).read_bytes()

    def delete(self, store: Store, qid: str) -> None:
        entry = store.quarantine.entry(qid)
        if entry is None:
            raise KeyError(qid)
        Path(entry["path"]).unlink(missing_ok=True)
        store.quarantine.set_status(qid, "deleted")

    async def reinject_entry(self, config: Config, entry: dict[str, Any]) -> str:
        """Hand a kept message back to Postfix with its original envelope and an X-Mailmon-Released
        field; returns Postfix's reply ("250 2.0.0 Ok: queued as …"). A refusal raises ReinjectError
        and leaves the entry as it was: the caller records the new status only after Postfix took it.
        The command line and the console both release through this."""
        host, port = split_hostport(config.filter.reinject)
        data = await asyncio.to_thread(self.read, entry)  # up to the size limit: not on the event loop
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
        reply = asyncio.run(self.reinject_entry(config, entry))
        store.quarantine.set_status(entry["id"], "released")
        Path(entry["path"]).unlink(missing_ok=True)
        return reply
