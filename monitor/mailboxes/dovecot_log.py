"""Login activity from Dovecot's log: file log (log_path) or syslog / journald text.

Only three kinds of line matter (a substring search finds them a block at a time, and only those
lines meet a regex — fail2ban-style per-line Python work is what makes log ingestion slow):
  <proto>-login: [Info: ]Login: user=<U>, method=…, rip=IP, …, session=<S>[, orig_user=<O>]
  <proto>-login: [Info: ]Disconnected: … (auth failed, N attempts …): user=<U>, … rip=IP, … session=<S>
  auth: [Info: ]Master user logging in as U        (the default format's only master-user mark)
A master-user (monitor) login is recognised by orig_user=<master> (the recommended
login_log_format_elements) or, in the default format, by the "Master user logging in as" line
just before the Login line; it never counts as the owner's activity.

Each event is unique by (time, kind, session), and the reading position of each file is stored under a
fingerprint of its first bytes, so a restart neither loses nor double-counts lines and ingesting
the same file twice counts nothing twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from monitor.store import Store

_TS = (
    r"(?:(?P<iso>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:\.\d+)?(?P<tz>[+-]\d\d:?\d\d|Z)?"
    r"|(?P<bsd>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d))"
)
_PREFIX = _TS + r"(?: \S+ dovecot(?:\[\d+\])?:)? "
EVENT_RE = re.compile(
    _PREFIX + r"(?:"
    r"(?P<proto>imap|pop3|managesieve|submission|lmtp)-login: (?:Info: )?"
    r"(?:Login|Disconnected: .*?\(auth failed, (?P<attempts>\d+) attempts?.*?\)): user=<(?P<user>[^>\n]*)>"
    r".*?rip=(?P<rip>[^,\n]*).*?session=<(?P<session>[^>\n]*)>(?:, orig_user=<(?P<orig>[^>\n]*)>)?"
    r"|auth: (?:Info: )?Master user logging in as (?P<muser>\S+)"
    r")"
)
# A line can only be an event if it holds one of these; finding them is a substring search at memchr
# speed, so the regex runs on about one line in three instead of on every line.
_MARKS = ("Login: user=<", "(auth failed, ", "Master user logging in as ")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
COLUMNS = ("time", "user", "protocol", "kind", "attempts", "rip", "session", "master")
BLOCK = 16 * 2**20
_MASTER_WINDOW = timedelta(seconds=5)


@dataclass
class IngestReport:
    path: str
    lines: int = 0
    new_events: int = 0
    duplicates: int = 0
    start_offset: int = 0
    end_offset: int = 0


def fingerprint(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(1024).split(b"\n", 1)[0]
    return hashlib.blake2b(head, digest_size=16).hexdigest() if head else ""


class LogClock:
    """Turns the log's local timestamps into ISO times with their offset; syslog lines have no year."""

    def __init__(self, tz: tzinfo, year: int) -> None:
        self.tz, self.year, self._last_month = tz, year, 0
        self._cache: dict[str, tuple[str, int]] = {}

    def stamp(self, iso: str | None, zone: str | None, bsd: str | None) -> str:
        # Many lines share a second: convert each distinct timestamp once.
        key = iso + (zone or "") if iso else bsd or ""
        cached = self._cache.get(key)
        if cached is not None and (iso or cached[1] == self._last_month):
            return cached[0]
        if len(self._cache) > 4096:
            self._cache.clear()
        when = self._parse(iso, zone or "") if iso else self._parse_bsd(key)
        self._cache[key] = (when.isoformat(), when.month)
        return when.isoformat()

    def _parse(self, iso: str, zone: str) -> datetime:
        when = datetime.fromisoformat(iso.replace(" ", "T") + zone.replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=self.tz)

    def _parse_bsd(self, bsd: str) -> datetime:
        mon, day, clock = bsd[:3], int(bsd[4:6]), bsd[7:]
        month = _MONTHS[mon]
        if self._last_month == 12 and month == 1:
            self.year += 1  # the log crossed New Year
        self._last_month = month
        h, mi, s = (int(x) for x in clock.split(":"))
        return datetime(self.year, month, day, h, mi, s, tzinfo=self.tz)


Event = tuple[str, str, str, str, int, str, str, int]  # in the order of COLUMNS


def _marked_lines(text: str, end: int) -> list[int]:
    """Where each line before ``end`` holding a mark starts, in file order (twice for a line with two)."""
    found: list[int] = []
    find, rfind = text.find, text.rfind
    for mark in _MARKS:
        pos = find(mark, 0, end)
        while pos >= 0:
            found.append(rfind("\n", 0, pos) + 1)
            pos = find(mark, pos + len(mark), end)
    found.sort()  # sorted runs: a merge
    return found


def parse_events(text: str, master_user: str, clock: LogClock, end: int | None = None) -> Iterator[Event]:
    """The login events in ``text`` (complete lines, up to ``end``), in order, as tuples in COLUMNS order."""
    end = len(text) if end is None else end
    pending_master: dict[str, str] = {}
    match, stamp = EVENT_RE.match, clock.stamp
    previous = -1
    for start in _marked_lines(text, end):
        m = match(text, start, end) if start != previous else None  # no part of the pattern crosses a newline
        previous = start
        if m is None:
            continue
        iso, zone, bsd, proto, attempts, user, rip, session, orig, muser = m.groups()
        when = stamp(iso, zone, bsd)
        if muser:
            pending_master[muser.lower()] = when
            continue
        user = user.lower()
        if attempts is not None:
            yield (when, user, proto, "auth-failed", int(attempts), rip, session, 0)
            continue
        marked = pending_master.pop(user, None)
        master = orig == master_user or (
            marked is not None and datetime.fromisoformat(when) - datetime.fromisoformat(marked) <= _MASTER_WINDOW
        )
        yield (when, user, proto, "login", 0, rip, session, int(master))


def ingest_file(store: Store, path: Path, master_user: str, tz: tzinfo) -> IngestReport:
    """Read ``path`` from its stored position to its last complete line; store new events."""
    report = IngestReport(str(path))
    fp = fingerprint(path)
    if not fp:
        return report
    stored = store.logins.position(fp)
    offset = stored[1] if stored else 0
    report.start_offset = offset
    clock = LogClock(tz, datetime.fromtimestamp(path.stat().st_mtime, tz).year)
    with path.open("rb") as fh:
        fh.seek(offset)
        tail = b""
        while True:
            block = fh.read(BLOCK)
            if not block:
                break
            data = tail + block if tail else block
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            if not cut:
                continue
            text = data[:cut].decode("utf-8", "replace")
            report.lines += text.count("\n")
            batch = list(parse_events(text, master_user, clock))
            offset += cut
            inserted = store.logins.record_batch(batch, fp, str(path), offset)
            report.new_events += inserted
            report.duplicates += len(batch) - inserted
    report.end_offset = offset
    return report


def read_last_login_dict(path: Path, tz: tzinfo) -> dict[str, datetime]:
    """Dovecot's last_login file dict: alternating ``shared/last-login/<user>`` / unix-time lines.

    Keys under ``shared/master-login/…`` (the last_login_key mailmon used to recommend) are
    monitor logins and are left out.
    """
    out: dict[str, datetime] = {}
    lines = path.read_text("utf-8", "replace").splitlines()
    for key, value in zip(lines[::2], lines[1::2], strict=False):
        if key.startswith("shared/last-login/") and value.strip().isdigit():
            out[key.removeprefix("shared/last-login/").lower()] = datetime.fromtimestamp(int(value), tz)
    return out
