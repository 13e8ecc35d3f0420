"""The store's IT requests: a unit's request to create, change, reset, close or restore a mailbox, and
its completion (``mailmon requests``). Times are ISO 8601 with their offset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.store import Store, utcnow


def add_request(store: Store, kind: str, mailbox: str, unit: str, requested_at: datetime, note: str = "") -> int:
    """Record a request; returns its number."""
    row = {
        "kind": kind,
        "mailbox": mailbox.lower(),
        "unit": unit,
        "requested_at": requested_at.isoformat(timespec="seconds"),
        "note": note,
        "recorded_at": utcnow(),
    }
    with store.db.atomic():
        pk = store.db.table("it_requests").insert(row).last_pk
    assert isinstance(pk, int)
    return pk


def complete_request(store: Store, request_id: int, completed_at: datetime, note: str = "") -> dict[str, Any] | None:
    """Mark a request done (once); returns the row as it was before, or None when there is no such request."""
    rows = list(store.db.table("it_requests").rows_where("id = ?", [request_id]))
    if not rows:
        return None
    update: dict[str, Any] = {"completed_at": completed_at.isoformat(timespec="seconds")}
    if note:
        update["note"] = f"{rows[0]['note']}; {note}" if rows[0]["note"] else note
    with store.db.atomic():
        store.db.table("it_requests").update(request_id, update)
    return rows[0]


def list_requests(store: Store, unit: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    """Requests in the order they were made, optionally one unit's, optionally only those not done."""
    clauses, args = [], []
    if unit:
        clauses.append("unit = ?")
        args.append(unit)
    if open_only:
        clauses.append("completed_at is null")
    where = " and ".join(clauses) or None
    return list(store.db.table("it_requests").rows_where(where, args, order_by="requested_at, id"))


def last_resets(store: Store) -> dict[str, str]:
    """Per mailbox, when the IT department last completed a password reset."""
    return dict(
        store.db.execute(
            "select mailbox, max(completed_at) from it_requests "
            "where kind = 'reset' and completed_at is not null group by mailbox"
        ).fetchall()
    )
