"""`mailmon store migrate --to postgresql://…`: a SQLite store copied into PostgreSQL without losing a row,
run again after the SQLite store changed, and the PostgreSQL store then taking new rows."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

import pytest

from mailstack.postgres import PostgresCluster
from monitor.cli import main
from monitor.store import Concern, FindingRecord, MessageRecord, Store
from tests.conftest import tables

_schemas = itertools.count(1)


def record(store: Store, n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        concerns = (Concern("hoa@example.gov.vn", "stttt"),)
        message = MessageRecord(
            message_id=f"<{i}@x>",
            queue_id=f"Q{i}",
            client_addr="127.0.0.1",
            mail_from="hoa@example.gov.vn",
            rcpt_tos=("b@gmail.com", "c@gmail.com"),
            direction="outbound",
            size=1000 + i,
            verdict="pass",
            seconds=0.01,
            outcome="delivered",
            concerns=concerns,
            time=f"2026-12-0{1 + i % 7}T01:00:00+00:00",
        )
        finding = FindingRecord("virus", "high", "reject", f"chi tiết {i}", "ĐK 3", concerns)
        store.messages.record(message, [finding] if i % 3 == 0 else [])


def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[organization]\nlocal_domains = ["example.gov.vn"]\n[storage]\n'
        f'database = "{tmp_path / "old.sqlite3"}"\nspool_dir = "{tmp_path / "spool"}"\n'
        f'quarantine_dir = "{tmp_path / "q"}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def target(postgres_cluster: PostgresCluster) -> str:
    """A fresh schema of a database of its own in the session's PostgreSQL (whatever the run's back end)."""
    n = next(_schemas)
    if n == 1:
        postgres_cluster.create_database("migrate_test")
    return postgres_cluster.create_schema("migrate_test", f"copy_{n}")


def test_a_sqlite_store_moves_to_postgresql_and_the_copy_can_be_run_again(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    old = Store(tmp_path / "old.sqlite3")
    record(old, 7000)  # more than one slice of the copy
    kept = tmp_path / "q" / "k1.eml"
    kept.parent.mkdir()
    kept.write_bytes(b"Subject: giu lai\r\n\r\nnoi dung\r\n")
    old.quarantine.add(
        {
            "id": "k1",
            "path": str(kept),
            "size": kept.stat().st_size,
            "mail_from": "hoa@example.gov.vn",
            "rcpt_tos": ["b@gmail.com"],
        }
    )
    old.logins.record_events(
        [("2026-12-01T08:00:00+07:00", "hoa@example.gov.vn", "imap", "login", 1, "10.0.0.1", "s1", 0)]
    )

    assert main(["--config", str(config(tmp_path)), "store", "migrate", "--to", target]) == 0
    assert "messages: 7000 → 7000" in capsys.readouterr().out
    new = Store(target)
    assert tables(target).count("findings") == 2334 and tables(target).count("concerns") == 7000 + 2334
    assert new.messages.concerns_of_message(1) == old.messages.concerns_of_message(1)
    entry = new.quarantine.entry("k1")
    assert entry is not None and entry["path"] == ""  # the bytes moved into the database
    assert new.quarantine.data("k1") == kept.read_bytes()
    assert tables(target).rows('SELECT "user", logins FROM login_days') == [
        {
            "user": "hoa@example.gov.vn",
            "logins": str(int(datetime.fromisoformat("2026-12-01T08:00:00+07:00").timestamp())),
        }
    ]

    # The SQLite store went on: more mail, the kept message released. A second run catches up.
    record(old, 5, first=7000)
    old.quarantine.set_status("k1", "released")
    assert main(["--config", str(config(tmp_path)), "store", "migrate", "--to", target]) == 0
    assert tables(target).count("messages") == 7005 and tables(target).count("concerns") == 7005 + 2335
    assert new.quarantine.entry("k1")["status"] == "released"  # type: ignore[index]
    # New rows on PostgreSQL take ids after the copied ones.
    record(new, 1, first=9999)
    assert tables(target).value("SELECT max(id) FROM messages") == 7006
    old.close()
    new.close()


def test_migrate_refuses_a_target_that_is_not_postgresql_or_carries_a_password(tmp_path: Path) -> None:
    Store(tmp_path / "old.sqlite3").close()
    assert main(["--config", str(config(tmp_path)), "store", "migrate", "--to", "mysql://x@h/db"]) == 2
    assert main(["--config", str(config(tmp_path)), "store", "migrate", "--to", "postgresql://u:secret@h/db"]) == 2
