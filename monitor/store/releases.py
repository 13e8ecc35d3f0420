"""Releases from the quarantine, recorded: which message, who, why, from which status, Postfix's reply."""

from __future__ import annotations

from typing import Any

from monitor.store import Store, utcnow


def record_release(store: Store, quarantine_id: str, who: str, why: str, was: str, reply: str) -> None:
    store.db.table("quarantine_releases").insert(
        {"quarantine_id": quarantine_id, "time": utcnow(), "who": who, "why": why, "was": was, "reply": reply}
    )


def releases_of(store: Store, quarantine_id: str) -> list[dict[str, Any]]:
    return list(store.db.table("quarantine_releases").rows_where("quarantine_id = ?", [quarantine_id], order_by="id"))
