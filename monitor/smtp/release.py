"""Release a quarantined message: re-inject it with its original envelope, bypassing the rules."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from monitor.config import Config, split_hostport
from monitor.inspect.added_headers import field
from monitor.smtp.quarantine import Quarantine
from monitor.smtp.reinject import reinject
from monitor.smtp.spool import Spool
from monitor.store import Store


def release(config: Config, store: Store, quarantine: Quarantine, entry: dict[str, Any]) -> str:
    host, port = split_hostport(config.filter.reinject)
    data = quarantine.read(entry)
    spool = Spool(Path(config.storage.spool_dir), memory_limit=len(data) + 1)
    spool.write(data)
    header = field("X-Mailmon-Released", str(entry["id"]))
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
    store.set_quarantine_status(entry["id"], "released")
    Path(entry["path"]).unlink(missing_ok=True)
    return f"{result.code} {result.text}"
