"""Each unit's head, and its box's holder, over time: the directory import adds a row when the person
named changes, so the unit-handover rule knows who handed over to whom, and since when."""

from __future__ import annotations

from monitor.store import Store, utcnow

ROLES = ("head", "holder")


def current_people(store: Store) -> dict[tuple[str, str], str]:
    """(unit, role) → the person named last."""
    return {
        (unit, role): person
        for unit, role, person in store.db.execute(
            "select unit, role, person from unit_people u where since = "
            "(select max(since) from unit_people v where v.unit = u.unit and v.role = u.role)"
        ).fetchall()
    }


def record_people(store: Store, named: dict[tuple[str, str], tuple[str, str | None]]) -> int:
    """Add a row for each (unit, role) whose person ((person, since or None for now)) differs from the
    last one recorded; returns how many changed. Call inside the directory import's transaction."""
    known = current_people(store)
    now = utcnow()
    rows = [
        {"unit": unit, "role": role, "person": person, "since": since or now, "recorded_at": now}
        for (unit, role), (person, since) in named.items()
        if person and known.get((unit, role)) != person
    ]
    store.db.table("unit_people").upsert_all(rows, pk=("unit", "role", "since"))
    return len(rows)


def latest_changes(store: Store) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(unit, role) → (previous person, current person, since) for units whose person changed at least
    once (the first person recorded is no change)."""
    changes: dict[tuple[str, str], tuple[str, str, str]] = {}
    previous: dict[tuple[str, str], str] = {}
    for unit, role, person, since in store.db.execute(
        "select unit, role, person, since from unit_people order by unit, role, since"
    ).fetchall():
        key = (unit, role)
        if key in previous and previous[key] != person:
            changes[key] = (previous[key], person, since)
        previous[key] = person
    return changes
