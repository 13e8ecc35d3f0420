"""Each unit's head, and its box's holder, over time: the directory import adds a row when the person
named changes, so the unit-handover rule knows who handed over to whom, and since when."""

from __future__ import annotations

from monitor.store.connection import Database
from monitor.store.records import utcnow

ROLES = ("head", "holder")
_UPSERT = (
    "INSERT INTO unit_people (unit, role, person, since, recorded_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (unit, role, since) DO UPDATE SET person = excluded.person, recorded_at = excluded.recorded_at"
)


class UnitPeople:
    def __init__(self, db: Database) -> None:
        self._db = db

    def current(self) -> dict[tuple[str, str], str]:
        """(unit, role) → the person named last."""
        rows = self._db.all(
            "SELECT unit, role, person FROM unit_people u WHERE since = "
            "(SELECT max(since) FROM unit_people v WHERE v.unit = u.unit AND v.role = u.role)"
        )
        return {(unit, role): person for unit, role, person in rows}

    def record(self, named: dict[tuple[str, str], tuple[str, str | None]]) -> int:
        """Add a row for each (unit, role) whose person ((person, since or None for now)) differs from the
        last one recorded; returns how many changed. Joins the directory import's transaction."""
        now = utcnow()
        with self._db.write():
            known = self.current()
            rows = [
                (unit, role, person, since or now, now)
                for (unit, role), (person, since) in named.items()
                if person and known.get((unit, role)) != person
            ]
            self._db.executemany(_UPSERT, rows)
        return len(rows)

    def latest_changes(self) -> dict[tuple[str, str], tuple[str, str, str]]:
        """(unit, role) → (previous person, current person, since) for units whose person changed at least
        once (the first person recorded is no change)."""
        changes: dict[tuple[str, str], tuple[str, str, str]] = {}
        previous: dict[tuple[str, str], str] = {}
        for unit, role, person, since in self._db.all(
            "SELECT unit, role, person, since FROM unit_people ORDER BY unit, role, since"
        ):
            key = (unit, role)
            if key in previous and previous[key] != person:
                changes[key] = (previous[key], person, since)
            previous[key] = person
        return changes
