"""What the operators' console reads: the overview's counts, the quarantine by unit, the mailboxes as last
evaluated, held senders, and which units a message or sender belongs to.

Every list is a page of a bounded size found through an index (keyset pagination: "after this key",
never OFFSET), and every count reads an index or a small table, so a page costs the same with a
million findings as with a hundred. ``units`` is the set of units a person may see; ``None`` is
everything (an administrator).

Which units a quarantined message belongs to: those of the local mailboxes it is from or to
(quarantine_parties, recorded with the entry), through the directory as it is when asked. That is
deliberately broader than what a finding is about: a unit's IT contact may see, and release, every
held message its mailboxes sent or were sent. The overview's finding counts by unit read what each
finding is about (the concerns table, rules/concerns.py), as alerts, reports and metrics do.

Statements are plain DB-API SQL with ``?`` placeholders; the connection's ``json_items`` reads the
JSON lists the store already keeps (recipients, IT contacts).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.store.connection import Database

PAGE = 50


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" * len(values))


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    action: str
    detail: str
    citation: str


class Console:
    """The console's queries on one connection (one thread)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- who -------------------------------------------------------------------------------
    def contact_units(self, address: str) -> list[str]:
        """The units whose directory entry names ``address`` among its IT contacts."""
        rows = self._db.execute(
            f"SELECT DISTINCT u.unit FROM units u, {self._db.json_items('u.it_contact', 'c')} "  # noqa: S608
            "WHERE lower(c.value) = ? ORDER BY u.unit",
            (address.lower(),),
        ).fetchall()
        return [r[0] for r in rows]

    def unit_names(self, units: Collection[str] | None = None) -> dict[str, str]:
        """unit → its name (every unit for None)."""
        if units is None:
            rows = self._db.execute("SELECT unit, coalesce(name, unit) FROM units ORDER BY unit").fetchall()
        else:
            rows = self._db.execute(
                f"SELECT unit, coalesce(name, unit) FROM units WHERE unit IN ({_marks(units)}) ORDER BY unit",  # noqa: S608
                tuple(units),
            ).fetchall()
        return {r[0]: r[1] or r[0] for r in rows}

    def mailbox_unit(self, address: str) -> str | None:
        row = self._db.execute("SELECT unit FROM mailboxes WHERE address = ?", (address.lower(),)).fetchone()
        return None if row is None else str(row[0] or "")

    # -- the overview ----------------------------------------------------------------------
    def count_new_findings(self, offset: str, batch: int = 20_000) -> int:
        """Add the findings recorded since the last call to finding_counts (by local day — the stored UTC
        time moved by ``offset``, e.g. "+420 minutes" — unit and rule); returns how many were counted.

        A finding counts once for each unit it is about (its concerns, the unit recorded with each or
        else the directory's now), for unit "" when none is known, and once under unit "*" in any case."""
        row = self._db.one("SELECT value FROM mailbox_view_meta WHERE key = 'findings_counted'")
        last = int(row[0]) if row else 0
        rows = self._db.all(
            "WITH batch AS (SELECT id, time, rule FROM findings WHERE id > ? ORDER BY id LIMIT ?) "  # noqa: S608
            f"SELECT t.id, {self._db.day_at_offset('t.time')}, t.rule, "
            "CASE WHEN c.unit <> '' THEN c.unit ELSE b.unit END "
            "FROM batch t LEFT JOIN concerns c ON c.finding = t.id LEFT JOIN mailboxes b ON b.address = c.mailbox",
            (last, batch, offset),
        )
        if not rows:
            return 0
        units: dict[tuple[int, str, str], set[str]] = defaultdict(set)
        for finding, day, rule, unit in rows:
            found = units[(finding, day, rule)]
            if unit:
                found.add(unit)
        counts: Counter[tuple[str, str, str]] = Counter()
        for (_, day, rule), found in units.items():
            counts[(day, "*", rule)] += 1
            for unit in found or {""}:
                counts[(day, unit, rule)] += 1
        with self._db.write():
            self._db.executemany(
                "INSERT INTO finding_counts (day, unit, rule, n) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (day, unit, rule) DO UPDATE SET n = finding_counts.n + excluded.n",
                [(*key, n) for key, n in counts.items()],
            )
            self._db.execute(
                "INSERT INTO mailbox_view_meta (key, value) VALUES ('findings_counted', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(max(f for f, _, _ in units)),),
            )
        return len(units)

    def finding_counts(
        self, first_day: str, last_day: str, units: Collection[str] | None
    ) -> Counter[tuple[str, str, str]]:
        """(day, unit, rule) → findings, for the local days from ``first_day`` to ``last_day``; for None
        the rows of every unit and the totals under unit "*"."""
        if units is None:
            rows = self._db.execute(
                "SELECT day, unit, rule, n FROM finding_counts WHERE day >= ? AND day <= ?", (first_day, last_day)
            )
        else:
            rows = self._db.execute(
                f"SELECT day, unit, rule, n FROM finding_counts WHERE unit IN ({_marks(units)}) "  # noqa: S608
                "AND day >= ? AND day <= ?",
                (*units, first_day, last_day),
            )
        return Counter({(r[0], r[1], r[2]): r[3] for r in rows.fetchall()})

    def held_totals(self, units: Collection[str] | None) -> tuple[int, int]:
        """(messages, bytes) held in quarantine now."""
        if units is None:
            row = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM quarantine WHERE status = 'held'"
            ).fetchone()
        else:
            row = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM (SELECT DISTINCT q.id, q.size "  # noqa: S608
                f"FROM {_visible(self._db)} WHERE b.unit IN ({_marks(units)}) AND q.status = 'held') AS held",
                tuple(units),
            ).fetchone()
        return int(row[0]), int(row[1])

    # -- the quarantine --------------------------------------------------------------------
    def quarantine_page(
        self,
        units: Collection[str] | None,
        *,
        status: str | None = None,
        address: str | None = None,
        before: tuple[str, str] | None = None,
        limit: int = PAGE,
    ) -> list[dict[str, Any]]:
        """Entries newest first, ``limit`` of them from before the (time, id) key ``before``."""
        clauses: list[str] = []
        args: list[object] = []
        if status:
            clauses.append("q.status = ?")
            args.append(status)
        if before is not None:
            clauses.append("(q.time < ? OR (q.time = ? AND q.id < ?))")
            args += [before[0], before[0], before[1]]
        if address:
            clauses.append("q.id IN (SELECT quarantine_id FROM quarantine_parties WHERE address = ?)")
            args.append(address.lower())
        source = "quarantine q"
        if units is not None:
            # From the unit's mailboxes to their entries (CROSS JOIN keeps that order): a unit's entries
            # are found through indexes, not by reading every entry newest first until 50 are the unit's.
            source = _visible(self._db)
            clauses += [f"b.unit IN ({_marks(units)})"]
            args += list(units)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.dicts(
            "SELECT DISTINCT q.id, q.time, q.mail_from, q.rcpt_tos, q.direction, q.verdict, q.reason, q.size, "  # noqa: S608
            f"q.status FROM {source} {where} ORDER BY q.time DESC, q.id DESC LIMIT ?",
            (*args, limit),
        )
        for row in rows:
            row["rcpt_tos"] = json.loads(row["rcpt_tos"] or "[]")
        return rows

    def quarantine_entry(self, qid: str) -> dict[str, Any] | None:
        rows = self._db.dicts("SELECT * FROM quarantine WHERE id = ?", (qid,))
        if not rows:
            return None
        rows[0]["rcpt_tos"] = json.loads(rows[0]["rcpt_tos"] or "[]")
        return rows[0]

    def quarantine_units(self, qid: str) -> set[str]:
        """The units of the local mailboxes the message is from or to (the directory's, now)."""
        rows = self._db.execute(
            "SELECT DISTINCT b.unit FROM quarantine_parties p JOIN mailboxes b ON b.address = p.address "
            "WHERE p.quarantine_id = ?",
            (qid,),
        ).fetchall()
        return {r[0] or "" for r in rows}

    def message_findings(self, message: int | None) -> list[Finding]:
        if message is None:
            return []
        rows = self._db.execute(
            "SELECT rule, severity, action, detail, citation FROM findings WHERE message = ? ORDER BY id", (message,)
        ).fetchall()
        return [Finding(*(str(v or "") for v in r)) for r in rows]

    def releases_of(self, qid: str) -> list[dict[str, Any]]:
        return self._db.dicts(
            "SELECT time, who, why, was, reply FROM quarantine_releases WHERE quarantine_id = ? ORDER BY id", (qid,)
        )

    # -- held senders ----------------------------------------------------------------------
    def held_senders(self, now: str, units: Collection[str] | None) -> list[dict[str, Any]]:
        """Senders held now (not released, hold not over), with their unit, longest held first."""
        args: list[object] = [now]
        scope = ""
        if units is not None:
            scope = f"AND b.unit IN ({_marks(units)})"
            args += list(units)
        return self._db.dicts(
            "SELECT h.sender, h.since, h.until, h.reason, coalesce(b.unit, '') AS unit FROM held_senders h "  # noqa: S608
            "LEFT JOIN mailboxes b ON b.address = lower(h.sender) "
            f"WHERE h.released_at IS NULL AND h.until > ? {scope} ORDER BY h.since LIMIT 1000",
            args,
        )

    # -- mailboxes as last evaluated -------------------------------------------------------
    def mailbox_page(
        self,
        units: Collection[str] | None,
        *,
        unit: str | None = None,
        state: str | None = None,
        after: str | None = None,
        limit: int = PAGE,
    ) -> list[dict[str, Any]]:
        """Mailboxes in address order after ``after``, of ``unit`` and ``state`` if given."""
        clauses: list[str] = []
        args: list[object] = []
        if unit is not None:
            clauses.append("unit = ?")
            args.append(unit)
        if units is not None:
            clauses.append(f"unit IN ({_marks(units)})")
            args += list(units)
        if state:
            clauses.append("state = ?")
            args.append(state)
        if after:
            clauses.append("address > ?")
            args.append(after)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.dicts(
            f"SELECT * FROM mailbox_view {where} ORDER BY address LIMIT ?",  # noqa: S608 (fixed text)
            (*args, limit),
        )
        for row in rows:
            row["findings"] = json.loads(row["findings"])
        return rows

    def mailbox_counts(self, units: Collection[str] | None, what: str) -> Counter[tuple[str, str]]:
        """(unit, name) → mailboxes, where ``what`` is "state" or "rule" (the last evaluation's)."""
        if units is None:
            rows = self._db.execute("SELECT unit, name, n FROM mailbox_view_counts WHERE what = ?", (what,))
        else:
            rows = self._db.execute(
                f"SELECT unit, name, n FROM mailbox_view_counts WHERE what = ? AND unit IN ({_marks(units)})",  # noqa: S608
                (what, *units),
            )
        return Counter({(r[0], r[1]): r[2] for r in rows.fetchall()})

    def mailbox_view_evaluated_at(self) -> str | None:
        row = self._db.execute("SELECT value FROM mailbox_view_meta WHERE key = 'evaluated_at'").fetchone()
        return None if row is None else str(row[0])

    def replace_mailbox_view(self, rows: Sequence[dict[str, Any]], evaluated_at: str, chunk: int = 5000) -> None:
        """Put a whole new evaluation in place: written in chunks (short write locks, the filter waits for
        none long), stale rows removed, then the counts and the time in one last transaction."""
        columns = (
            "address",
            "unit",
            "kind",
            "state",
            "last_login",
            "checks_per_working_day",
            "check_target",
            "quota_used_bytes",
            "findings",
        )
        sql = (
            f"INSERT INTO mailbox_view ({', '.join(columns)}) VALUES ({_marks(columns)}) "  # noqa: S608
            "ON CONFLICT (address) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        )
        for i in range(0, len(rows), chunk):
            with self._db.write():
                self._db.executemany(
                    sql,
                    [
                        (*(r[c] for c in columns[:-1]), json.dumps(r["findings"], ensure_ascii=False))
                        for r in rows[i : i + chunk]
                    ],
                )
        counts: Counter[tuple[str, str, str]] = Counter()
        for r in rows:
            counts[(r["unit"], "state", r["state"])] += 1
            for rule in {f["rule"] for f in r["findings"]}:
                counts[(r["unit"], "rule", rule)] += 1
        with self._db.write():
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS evaluated (address TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM evaluated")
            self._db.executemany(
                "INSERT INTO evaluated VALUES (?) ON CONFLICT DO NOTHING", ((r["address"],) for r in rows)
            )
            self._db.execute("DELETE FROM mailbox_view WHERE address NOT IN (SELECT address FROM evaluated)")
            self._db.execute("DELETE FROM evaluated")
            self._db.execute("DELETE FROM mailbox_view_counts")
            self._db.executemany(
                "INSERT INTO mailbox_view_counts (unit, what, name, n) VALUES (?, ?, ?, ?)",
                ((*key, n) for key, n in counts.items()),
            )
            self._db.execute(
                "INSERT INTO mailbox_view_meta (key, value) VALUES ('evaluated_at', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (evaluated_at,),
            )


def _visible(db: Database) -> str:
    """The quarantine entries of a set of units (b.unit IN …): their mailboxes, then the entries from or
    to them. SQLite's CROSS JOIN keeps that order; PostgreSQL's planner chooses it from its statistics."""
    join = "CROSS JOIN" if db.dialect == "sqlite" else "JOIN"
    return (
        f"mailboxes b {join} quarantine_parties p ON p.address = b.address "
        f"{join} quarantine q ON q.id = p.quarantine_id"
    )
