"""Copy a SQLite store into PostgreSQL (`mailmon store migrate --to postgresql://…`), without losing a row,
as often as needed.

Both databases have the same schema (the same migrations, applied to the target first). Every table
is read in primary-key order in slices and written with an upsert on its key, each slice its own
transaction: a run that stops midway (a lost connection, Ctrl-C) is finished by running it again,
and a run after the SQLite store went on taking mail brings the target up to date — new rows are
added and changed rows (a quarantined message released, a mailbox suspended) take their new values.
Rows the source no longer has (retention deleted them) stay in the target until its own retention.

``concerns`` has no key of its own: it is replaced as a whole, in one transaction. The identity
counters are set past the largest copied id so that new rows never collide. Quarantined messages
kept as files are read into the database (``quarantine_messages``) when the target keeps them there,
so every node that shares the target can show and release them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.store.connection import Database, SqliteDatabase
from monitor.store.migrations import apply_migrations

SLICE = 5000
_SKIPPED = ("_sqlite_migrations", "schema_migrations", "sqlite_sequence", "sqlite_stat1")
_WITHOUT_KEY = ("concerns",)
# Parents before children (findings and concerns name messages; releases, parties and bytes name entries).
_FIRST = ("messages", "findings", "quarantine")


@dataclass(frozen=True)
class TableCopy:
    table: str
    source_rows: int
    target_rows: int


def copy_sqlite_store(
    path: Path,
    target: Database,
    *,
    quarantine_in_database: bool,
    lock_timeout: float,
    progress: Callable[[str], None] = lambda line: None,
) -> list[TableCopy]:
    """Copy the SQLite store at ``path`` (brought up to date first) into ``target`` (migrated), from one
    snapshot of it whatever writes meanwhile; returns the rows on each side."""
    source = SqliteDatabase(path, lock_timeout)
    try:
        apply_migrations(source)
        with source.read():
            return copy_store(source, target, quarantine_in_database=quarantine_in_database, progress=progress)
    finally:
        source.close()


def copy_store(
    source: SqliteDatabase,
    target: Database,
    *,
    quarantine_in_database: bool,
    progress: Callable[[str], None] = lambda line: None,
) -> list[TableCopy]:
    """Copy every table of ``source`` into ``target`` (already migrated); returns the rows on each side."""
    tables = _tables(source)
    done: list[TableCopy] = []
    for table in tables:
        if table in _WITHOUT_KEY or not _columns(source, table)[1]:
            _replace(source, target, table)
        else:
            _upsert(source, target, table, quarantine_in_database and table == "quarantine")
        counted = TableCopy(table, _count(source, table), _count(target, table))
        progress(f"{table}: {counted.source_rows} → {counted.target_rows}")
        done.append(counted)
    _advance_identities(target, tables)
    return done


def _tables(db: SqliteDatabase) -> list[str]:
    names = [r[0] for r in db.all("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    names = [n for n in names if n not in _SKIPPED]
    return [n for n in _FIRST if n in names] + [n for n in names if n not in _FIRST]


def _columns(db: SqliteDatabase, table: str) -> tuple[list[str], list[str]]:
    """(every column, the primary key's columns in key order)."""
    info = db.all(f"PRAGMA table_info({table})")
    columns = [str(r[1]) for r in info]
    key = [str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: int(r[5]))]
    return columns, key


def _quoted(name: str) -> str:
    return f'"{name}"'


def _count(db: Database, table: str) -> int:
    row = db.one(f"SELECT count(*) FROM {table}")  # noqa: S608 (a table of the schema)
    return int(row[0]) if row else 0


def _upsert(source: SqliteDatabase, target: Database, table: str, quarantine_bytes: bool) -> None:
    columns, key = _columns(source, table)
    names = ", ".join(map(_quoted, columns))
    others = [c for c in columns if c not in key]
    update = ", ".join(f"{_quoted(c)} = excluded.{_quoted(c)}" for c in others)
    conflict = f"ON CONFLICT ({', '.join(map(_quoted, key))}) "
    conflict += f"DO UPDATE SET {update}" if update else "DO NOTHING"
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))}) {conflict}"  # noqa: S608
    order = ", ".join(map(_quoted, key))
    after: tuple[Any, ...] | None = None
    while True:
        if after is None:
            rows = source.all(f"SELECT {names} FROM {table} ORDER BY {order} LIMIT ?", (SLICE,))  # noqa: S608
        else:
            keys = f"({order}) > ({', '.join('?' * len(key))})"
            rows = source.all(
                f"SELECT {names} FROM {table} WHERE {keys} ORDER BY {order} LIMIT ?",  # noqa: S608
                (*after, SLICE),
            )
        if not rows:
            return
        with target.write():
            carried: list[tuple[str, bytes]] = []
            if quarantine_bytes:
                rows = [_bytes_out(columns, row, carried) for row in rows]
            target.executemany(insert, rows)
            target.executemany(
                "INSERT INTO quarantine_messages (id, data) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                carried,
            )
        last = dict(zip(columns, rows[-1], strict=True))
        after = tuple(last[k] for k in key)


def _bytes_out(columns: list[str], row: tuple[Any, ...], carried: list[tuple[str, bytes]]) -> tuple[Any, ...]:
    """A quarantine entry whose file is still kept: its bytes to ``carried``, its path emptied."""
    entry = dict(zip(columns, row, strict=True))
    path = entry.get("path") or ""
    if not path or entry.get("status") not in ("held", "rejected"):
        return row
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return row  # nothing to carry: the entry is copied as it is
    carried.append((entry["id"], data))
    entry["path"] = ""
    return tuple(entry[c] for c in columns)


def _replace(source: SqliteDatabase, target: Database, table: str) -> None:
    columns, _ = _columns(source, table)
    names = ", ".join(map(_quoted, columns))
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
    with target.write():
        target.execute(f"DELETE FROM {table}")  # noqa: S608 (a table of the schema)
        cursor: Any = source.execute(f"SELECT {names} FROM {table} ORDER BY rowid")  # noqa: S608
        while rows := cursor.fetchmany(SLICE):
            target.executemany(insert, rows)


def _advance_identities(target: Database, tables: list[str]) -> None:
    """PostgreSQL's identity counters past the copied ids (SQLite takes the next id from the table)."""
    if target.dialect != "postgresql":
        return
    for table in tables:
        row = target.one("SELECT pg_get_serial_sequence(?, 'id')", (table,)) if _has_id(target, table) else None
        if row and row[0]:
            target.execute(
                f"SELECT setval(?, greatest((SELECT coalesce(max(id), 0) FROM {table}), 1))",  # noqa: S608
                (row[0],),
            )


def _has_id(target: Database, table: str) -> bool:
    row = target.one(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? AND column_name = 'id' AND is_identity = 'YES'",
        (table,),
    )
    return row is not None
