"""The quarantine: messages kept on disk (fsynced) and indexed in SQLite, never delivered.

A message is in quarantine once both its file is durable and its index row is committed; only
then does the filter answer 250. Release re-injects it with its original envelope.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
        store.add_quarantine(
            {**meta, "id": qid, "path": str(path), "size": path.stat().st_size, "sha256": sha256_of(path)}
        )
        return qid

    def read(self, entry: dict[str, Any]) -> bytes:
        return Path(entry["path"]).read_bytes()

    def delete(self, store: Store, qid: str) -> None:
        entry = store.quarantine_entry(qid)
        if entry is None:
            raise KeyError(qid)
        Path(entry["path"]).unlink(missing_ok=True)
        store.set_quarantine_status(qid, "deleted")
