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
import socket
import subprocess
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from pathlib import Path

from monitor.mailboxes.dovecot_log import LogClock, fingerprint, ingest_file, parse_events
from monitor.store import AsyncStore, Store

log = logging.getLogger("mailmon.follower")


async def _always(key: str) -> bool:
    return True


async def _nothing(key: str) -> None:
    return None


def _log_key(source: str, path: Path) -> str:
    """What names a log between nodes: journald with this machine, a file by its first line's fingerprint."""
    if source.startswith("journald:"):
        return f"log:{source}@{socket.gethostname()}"
    try:
        return f"log:{fingerprint(path) or source}"
    except OSError:
        return f"log:{source}"


def follow_file_once(store: Store, path: Path, master_user: str, tz: tzinfo) -> int:
    """New events since the last call, from the rotated file's tail and the current file."""
    new = 0
    for candidate in (path.with_name(path.name + ".1"), path):
        if candidate.exists():
            new += ingest_file(store, candidate, master_user, tz).new_events
    return new


def journal_key(unit: str) -> str:
    return f"journald:{unit}"


def read_journal(unit: str, cursor: str | None) -> tuple[list[str], str | None]:
    """journald's lines for ``unit`` (e.g. dovecot.service) after ``cursor`` (else the last day), and the
    cursor after them. Runs journalctl; no store work, so it can run off the store's thread."""
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        raise FileNotFoundError("journalctl is not installed")
    args = [journalctl, "-u", unit, "-o", "short-iso", "--no-pager", "--show-cursor"]
    args += ["--after-cursor", cursor] if cursor else ["--since", "-1d"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    after = None
    lines = []
    for line in out.splitlines():
        if line.startswith("-- cursor: "):
            after = line.removeprefix("-- cursor: ").strip()
        else:
            lines.append(line)
    return lines, after


def record_journal(store: Store, unit: str, lines: list[str], cursor: str | None, master_user: str, tz: tzinfo) -> int:
    """Store the events of journald lines and the cursor after them; returns how many events were new."""
    events = list(parse_events("\n".join(lines) + "\n", master_user, LogClock(tz, datetime.now(tz).year)))
    if cursor:
        return store.logins.record_batch(events, journal_key(unit), cursor, 0)
    return store.logins.record_events(events)


def follow_journal_once(store: Store, unit: str, master_user: str, tz: tzinfo) -> int:
    """New events from journald for ``unit`` after the stored cursor (in the calling thread)."""
    stored = store.logins.position(journal_key(unit))
    lines, cursor = read_journal(unit, stored[0] if stored else None)
    return record_journal(store, unit, lines, cursor, master_user, tz)


async def _follow_journal(store: AsyncStore, unit: str, master_user: str, tz: tzinfo) -> int:
    """journalctl runs off the store's thread; only the position and the events go to the store."""
    stored = await store.call(lambda s: s.logins.position(journal_key(unit)))
    lines, cursor = await asyncio.to_thread(read_journal, unit, stored[0] if stored else None)
    return await store.call(lambda s: record_journal(s, unit, lines, cursor, master_user, tz))


async def follow(
    store: AsyncStore,
    source: str,
    master_user: str,
    tz: tzinfo,
    stop: asyncio.Event,
    interval: float = 5.0,
    on_health: Callable[[bool], None] = lambda ok: None,
    claim: Callable[[str], Awaitable[bool]] = _always,
    let_go: Callable[[str], Awaitable[None]] = _nothing,
) -> None:
    """Poll ``source`` (a file path, or ``journald:<unit>``) until ``stop`` is set; ``on_health`` hears
    whether each round could read the log.

    Each round first ``claim``s the log: nodes sharing a store follow one log on one node at a time. A
    file is named by its content's fingerprint, so nodes that see the same file (a shared log) take
    turns and nodes with logs of their own each follow theirs; journald is each machine's own. The
    node that takes a log over reads on from the position the last one stored."""
    unit = source.removeprefix("journald:")
    path = Path(source)
    held: str | None = None
    while not stop.is_set():
        try:
            key = await asyncio.to_thread(_log_key, source, path)
            if key != held and held is not None:
                await let_go(held)
                held = None
            if not await claim(key):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
                continue
            held = key
            if source.startswith("journald:"):
                new = await _follow_journal(store, unit, master_user, tz)
            else:
                new = await store.call(lambda s: follow_file_once(s, path, master_user, tz))
            on_health(True)
            if new:
                log.info("log follower: %d new login events from %s", new, source)
        except (OSError, subprocess.SubprocessError) as exc:
            on_health(False)
            log.warning("log follower: %s: %s", source, exc)
        except Exception:
            # The log was read but not stored (e.g. the database stayed locked): the position did not
            # move either, so the next round reads the same lines again.
            log.exception("log follower: %s", source)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
