"""One store boundary: every SQL statement, every database call and every migration is in monitor/store/."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

CHECKED = ("monitor", "exporters", "rules")
STORE = REPO / "monitor" / "store"
# A string that reads as a SQL statement (keywords in their usual order, either case).
SQL = re.compile(
    r"\b(select\b[\s\S]*\bfrom|insert\s+(or\s+\w+\s+)?into|update\s+\w+\s+set|delete\s+from|"
    r"create\s+(unique\s+)?(table|index)|drop\s+(table|index)|pragma\s+\w+|begin\s+(immediate|deferred|exclusive))\b",
    re.IGNORECASE,
)
DATABASE_MODULES = {"sqlite3", "sqlite_utils", "psycopg", "psycopg2"}
# Calls that only a database connection (or sqlite-utils) makes.
DATABASE_CALLS = {"execute", "executemany", "executescript", "query", "rows_where", "upsert_all", "insert_all"}


def modules() -> Iterator[Path]:
    for package in CHECKED:
        for path in sorted((REPO / package).rglob("*.py")):
            if STORE not in path.parents:
                yield path


def problems(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    where = path.relative_to(REPO) if REPO in path.parents else path
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue  # prose about the store may name its verbs
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in DATABASE_MODULES:
                    yield f"{where}:{node.lineno}: imports {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in DATABASE_MODULES:
                yield f"{where}:{node.lineno}: imports from {node.module}"
            inner = node.module in ("monitor.store.connection", "monitor.store.migrations", "monitor.store.sql")
            if inner and any(a.name != "DEFAULT_LOCK_TIMEOUT" for a in node.names):
                yield f"{where}:{node.lineno}: reaches past the store's interface into {node.module}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            yield f"{where}:{node.lineno}: SQL in a string: {node.value.strip()[:60]!r}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in DATABASE_CALLS:
                yield f"{where}:{node.lineno}: a database call .{node.func.attr}()"
            if node.func.attr == "table":
                yield f"{where}:{node.lineno}: a sqlite-utils table: .table()"
        elif isinstance(node, ast.Attribute) and node.attr in ("db", "_db", "conn"):
            yield f"{where}:{node.lineno}: reaches for a connection: .{node.attr}"


def test_no_sql_outside_the_store() -> None:
    found = [p for path in modules() for p in problems(path)]
    assert not found, "SQL belongs in monitor/store/ as a named method:\n" + "\n".join(found)


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scan is not blind: each kind of leak in a sample module is reported."""
    sample = tmp_path / "leak.py"
    sample.write_text(
        "import sqlite3\n"
        "from sqlite_utils import Database\n"
        "def f(store):\n"
        "    store.db.table('units').rows_where('unit = ?', ['x'])\n"
        "    return store._db.execute('select unit from units where unit = ?', ['x'])\n"
        "Q = 'DELETE FROM findings WHERE time < ?'\n"
        "U = 'update quarantine set status = ?'\n",
        encoding="utf-8",
    )
    found = list(problems(sample))
    text = "\n".join(found)
    for expected in ("imports sqlite3", "imports from sqlite_utils", ".table()", ".rows_where()", ".execute()",
                     "reaches for a connection: .db", "reaches for a connection: ._db", "DELETE FROM", "update quarantine"):
        assert expected in text, f"{expected!r} not reported in:\n{text}"


def test_prose_in_docstrings_is_not_taken_for_sql(tmp_path: Path) -> None:
    sample = tmp_path / "prose.py"
    sample.write_text('"""Select the findings from the store, then update the report."""\nX = "begin the sweep"\n')
    assert list(problems(sample)) == []


def test_every_migration_is_in_the_store() -> None:
    """Only monitor/store/migrations.py declares migrations (the outbox's moved in)."""
    for path in [*modules(), *STORE.rglob("*.py")]:
        if path.name != "migrations.py":
            assert "Migrations(" not in path.read_text("utf-8"), f"{path.relative_to(REPO)} declares migrations"
