"""Follow Dovecot's log in the daemon: a file (surviving rotation) or journald.

A file is read from the position stored for its content fingerprint; after a rotation the
rotated file (``<path>.1``) is finished first, then the new file is read from its beginning, so
no line is lost or counted twice across a restart or a rotation. journald is read with
`journalctl --after-cursor`, the cursor stored like a file position.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
from datetime import datetime, tzinfo
from pathlib import Path

from monitor.mailboxes.dovecot_log import _Clock, parse_events
from monitor.mailboxes.dovecot_log import ingest_file as ingest_file
from monitor.store import AsyncStore, Store, utcnow

log = logging.getLogger("mailmon.follower")


def follow_file_once(store: Store, path: Path, master_user: str, tz: tzinfo) -> int:
    """New events since the last call, from the rotated file's tail and the current file."""
    new = 0
    for candidate in (path.with_name(path.name + ".1"), path):
        if candidate.exists():
            new += ingest_file(store, candidate, master_user, tz).new_events
    return new


def follow_journal_once(store: Store, unit: str, master_user: str, tz: tzinfo) -> int:
    """New events from journald for ``unit`` (e.g. dovecot.service) after the stored cursor."""
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        raise FileNotFoundError("journalctl is not installed")
    key = f"journald:{unit}"
    row = next(iter(store.db.table("log_positions").rows_where("fingerprint = ?", [key])), None)
    args = [journalctl, "-u", unit, "-o", "short-iso", "--no-pager", "--show-cursor"]
    args += ["--after-cursor", row["path"]] if row else ["--since", "-1d"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    cursor = None
    lines = []
    for line in out.splitlines():
        if line.startswith("-- cursor: "):
            cursor = line.removeprefix("-- cursor: ").strip()
        else:
            lines.append(line)
    events = list(parse_events("\n".join(lines) + "\n", master_user, _Clock(tz, datetime.now(tz).year)))
    with store.db.atomic():
        new = store.record_login_events(events)
        if cursor:
            store.db.table("log_positions").upsert(
                {"fingerprint": key, "path": cursor, "offset": 0, "updated": utcnow()}, pk="fingerprint"
            )
    return new


async def follow(
    store: AsyncStore, source: str, master_user: str, tz: tzinfo, stop: asyncio.Event, interval: float = 5.0
) -> None:
    """Poll ``source`` (a file path, or ``journald:<unit>``) until ``stop`` is set."""
    unit = source.removeprefix("journald:")
    path = Path(source)
    while not stop.is_set():
        try:
            if source.startswith("journald:"):
                new = await store.call(lambda s: follow_journal_once(s, unit, master_user, tz))
            else:
                new = await store.call(lambda s: follow_file_once(s, path, master_user, tz))
            if new:
                log.info("log follower: %d new login events from %s", new, source)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("log follower: %s: %s", source, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
