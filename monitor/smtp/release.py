"""Release a quarantined message: re-inject it with its original envelope, bypassing the rules.

``reinject_entry`` is the part both the CLI and the console run: the message goes back to Postfix
with an X-Mailmon-Released field, and Postfix's reply comes back. A refusal raises ReinjectError and
leaves the entry as it was; the caller records the new status only after Postfix took the message.
"""

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


async def reinject_entry(config: Config, quarantine: Quarantine, entry: dict[str, Any]) -> str:
    """Hand the kept message back to Postfix; returns its reply ("250 2.0.0 Ok: queued as …")."""
    host, port = split_hostport(config.filter.reinject)
    data = await asyncio.to_thread(quarantine.read, entry)  # up to the size limit: not on the event loop
    spool = Spool(Path(config.storage.spool_dir), memory_limit=len(data) + 1)
    spool.write(data)
    header = field("X-Mailmon-Released", str(entry["id"]))
    try:
        result = await reinject(
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
    finally:
        spool.close()
    return f"{result.code} {result.text}"


def release(config: Config, store: Store, quarantine: Quarantine, entry: dict[str, Any]) -> str:
    reply = asyncio.run(reinject_entry(config, quarantine, entry))
    store.set_quarantine_status(entry["id"], "released")
    Path(entry["path"]).unlink(missing_ok=True)
    return reply
