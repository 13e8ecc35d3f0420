"""`mailmon requests`: a unit's requests to the IT department (create, change, reset, close or restore a
mailbox), their completion, and their due days under the profile in force (DN-2022 Đ6.2, Đ7.2, Đ8.2,
Đ8.3; other profiles state none). A completed reset also starts the first-login-password rule's clock."""

from __future__ import annotations

import json
import re
import sys
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from monitor.cli import EX_USAGE_INPUT
from monitor.cli.common import open_store
from monitor.config import Config
from monitor.mailboxes.calendar import Calendar, calendar_for
from monitor.mailboxes.evaluate import RequestReport, as_of_moment, evaluate_requests, gather_requests
from monitor.store import Store
from rules.mailbox_facts import AccountProfile
from rules.requests import KIND_TEXT

_ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def parse_when(text: str | None, tz: ZoneInfo) -> datetime:
    """YYYY-MM-DD (the start of that day) or an ISO date and time (local time unless it has an offset)."""
    if not text:
        return datetime.now(tz).replace(microsecond=0)
    value = (
        datetime.fromisoformat(text)
        if "T" in text or " " in text
        else datetime.combine(date.fromisoformat(text), time())
    )
    return value if value.tzinfo else value.replace(tzinfo=tz)


def run(config: Config, args: Any) -> int:
    tz = ZoneInfo(config.organization.timezone)
    store = open_store(config)
    profile = config.account_profile()
    calendar = calendar_for(config.calendar)
    try:
        if args.rcommand == "add":
            return _add(store, profile, calendar, args, tz)
        if args.rcommand == "done":
            return _done(store, args, tz)
    except ValueError as exc:
        print(f"lỗi / error: {exc}", file=sys.stderr)
        return EX_USAGE_INPUT
    return _list(store, profile, calendar, args, tz)


def _add(store: Store, profile: AccountProfile, calendar: Calendar, args: Any, tz: ZoneInfo) -> int:
    mailbox = args.mailbox.strip().lower()
    if not _ADDRESS.match(mailbox):
        raise ValueError(f"--mailbox: not an e-mail address ({args.mailbox!r})")
    if _CONTROL.search(args.note) or _CONTROL.search(args.unit):
        raise ValueError("--note, --unit: control characters are not allowed")
    if store.mailboxes.unit(args.unit) is None:
        raise ValueError(f"--unit: {args.unit!r} is not in the directory (mailmon directory import)")
    requested = parse_when(args.at, tz)
    request_id = store.requests.add(args.kind, mailbox, args.unit, requested, args.note)
    (report,) = [
        r
        for r in evaluate_requests(gather_requests(store, tz), profile, requested, calendar)
        if r.request.id == request_id
    ]
    print(f"đã ghi đề nghị / recorded request #{request_id}: {_line(report, profile)}")
    return 0


def _done(store: Store, args: Any, tz: ZoneInfo) -> int:
    if _CONTROL.search(args.note):
        raise ValueError("--note: control characters are not allowed")
    row = store.requests.get(args.id)
    if row is None:
        raise ValueError(f"no request #{args.id}")
    if row["completed_at"]:
        raise ValueError(f"request #{args.id} was already done on {row['completed_at']}")
    done = parse_when(args.at, tz)
    if done < datetime.fromisoformat(row["requested_at"]):
        raise ValueError(f"--at: {done.isoformat()} is before the request ({row['requested_at']})")
    store.requests.complete(args.id, done, args.note)
    print(f"đã xong / done: #{args.id} ({done:%d/%m/%Y %H:%M})")
    return 0


def _list(store: Store, profile: AccountProfile, calendar: Calendar, args: Any, tz: ZoneInfo) -> int:
    now = as_of_moment(args.as_of, tz)
    reports = evaluate_requests(gather_requests(store, tz, args.unit), profile, now, calendar)
    if args.open or args.overdue:
        reports = [r for r in reports if r.request.completed_at is None]
    if args.overdue:
        reports = [r for r in reports if r.findings]
    if args.json:
        print(json.dumps([_json(r) for r in reports], ensure_ascii=False, indent=2))
        return 0
    for r in reports:
        print(f"#{r.request.id:<5} {_line(r, profile)}")
    overdue = sum(1 for r in reports if r.findings)
    print(f"{len(reports)} đề nghị / requests, {overdue} quá hạn / overdue ({profile.regulation.short_name})")
    return 0


def _line(report: RequestReport, profile: AccountProfile) -> str:
    req = report.request
    vi, en = KIND_TEXT[req.kind]
    if report.due is None:
        due = f"không có thời hạn / no deadline ({profile.regulation.short_name} không quy định / states none)"
    else:
        clauses = profile.rules["it-request-overdue"].cites_for(req.kind, profile.regulation.short_name)
        due = f"hạn / due {report.due:%d/%m/%Y} ({', '.join(str(c) for c in clauses)})"
    done = f"xong / done {req.completed_at:%d/%m/%Y}" if req.completed_at else "chưa xong / open"
    late = " — QUÁ HẠN / OVERDUE" if report.findings else (" — trễ / late" if report.late else "")
    return f"{vi} / {en} {req.mailbox} ({req.unit}), đề nghị / asked {req.requested_at:%d/%m/%Y}; {due}; {done}{late}"


def _json(report: RequestReport) -> dict[str, Any]:
    req = report.request
    return {
        "id": req.id,
        "kind": req.kind,
        "mailbox": req.mailbox,
        "unit": req.unit,
        "requested_at": req.requested_at.isoformat(),
        "completed_at": req.completed_at.isoformat() if req.completed_at else None,
        "due": report.due.isoformat() if report.due else None,
        "late": report.late,
        "findings": [{"rule": f.rule, "detail": f.detail, "citation": f.citation} for f in report.findings],
        "note": req.note,
    }
