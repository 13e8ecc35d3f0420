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
from monitor.smtp.reinject import reinject
from monitor.smtp.spool import Spool
from monitor.store import Store


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
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
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

    def release(self, config: Config, store: Store, entry: dict[str, Any]) -> str:
        """Re-inject a kept message with its original envelope; returns Postfix's reply."""
        host, port = split_hostport(config.filter.reinject)
        data = self.read(entry)
        spool = Spool(Path(config.storage.spool_dir), memory_limit=len(data) + 1)
        spool.write(data)
        header = f"X-Mailmon-Released: {entry['id']}\r\n".encode()
        try:
            result = asyncio.run(
                reinject(
                    host,
                    port,
                    mail_from=entry["mail_from"] or "",
                    rcpt_tos=list(entry["rcpt_tos"]),
                    mail_options=[],
                    spool=spool,
                    prepend=header,
                    timeout=config.filter.reinject_timeout_seconds,
                    local_hostname=config.filter.hostname,
                )
            )
        finally:
            spool.close()
        store.quarantine.set_status(entry["id"], "released")
        Path(entry["path"]).unlink(missing_ok=True)
        return f"{result.code} {result.text}"
