"""`mailmon directory import`: good rows kept, bad rows reported by line, idempotent, atomic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitor.mailboxes.directory import import_csv, it_contacts
from monitor.store import Store
from tests.conftest import REPO, SAMPLES_DIR, StoreTarget, tables

SAMPLES = SAMPLES_DIR / "directory"


def test_import_reports_bad_rows_and_keeps_good_ones(store_target: StoreTarget) -> None:
    store = Store(store_target)
    report = import_csv(store, SAMPLES / "units.csv", SAMPLES / "mailboxes.csv")
    assert (report.units, report.mailboxes) == (3, 5)
    assert report.errors == [
        "units.csv:5: it_contact: not an address: not-an-address",
        "mailboxes.csv:7: address: not an e-mail address ('KHONGHOP@')",
        "mailboxes.csv:8: kind: 'shared' is not one of personal, unit, agency, admin",
        "mailboxes.csv:9: status: 'retired' is not one of active, suspended, departed, removed",
        "mailboxes.csv:10: unit: 'khong-co' is not in units.csv nor in the directory",
        "mailboxes.csv:11: created_at: not an ISO 8601 date ('2026-13-01')",
        "mailboxes.csv:12: address hoant.stttt@example.gov.vn is listed twice",
    ]
    box = "SELECT * FROM mailboxes WHERE address = ?"
    hoa = tables(store_target).one(box, ["hoant.stttt@example.gov.vn"])
    assert hoa["display_name"] == "Nguyễn Thị Hoa" and hoa["quota_mb"] == 1024
    assert tables(store_target).one(box, ["stttt@example.gov.vn"])["quota_mb"] is None
    assert it_contacts(store, "stttt") == ["cntt@example.gov.vn", "quantri@example.gov.vn"]


def test_import_is_idempotent(store_target: StoreTarget) -> None:
    store = Store(store_target)
    import_csv(store, SAMPLES / "units.csv", SAMPLES / "mailboxes.csv")
    boxes = "SELECT address, status FROM mailboxes ORDER BY address"
    first = tables(store_target).rows(boxes)
    import_csv(store, SAMPLES / "units.csv", SAMPLES / "mailboxes.csv")
    assert tables(store_target).rows(boxes) == first and len(first) == 5
    assert tables(store_target).count("units") == 3


def test_a_status_change_is_an_update(tmp_path: Path, store_target: StoreTarget) -> None:
    store = Store(store_target)
    import_csv(store, SAMPLES / "units.csv", SAMPLES / "mailboxes.csv")
    changed = tmp_path / "mailboxes.csv"
    changed.write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        "hoant.stttt@example.gov.vn,Nguyễn Thị Hoa,stttt,personal,suspended,2024-03-01,2026-09-15,1024\n",
        encoding="utf-8",
    )
    empty_units = tmp_path / "units.csv"
    empty_units.write_text("unit,name,parent,it_contact\n", encoding="utf-8")
    report = import_csv(store, empty_units, changed)
    assert report.errors == [] and report.mailboxes == 1
    status = "SELECT status FROM mailboxes WHERE address = ?"
    assert tables(store_target).value(status, ["hoant.stttt@example.gov.vn"]) == "suspended"
    assert tables(store_target).count("mailboxes") == 5


def test_cli(tmp_path: Path, config_file: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "--config",
            str(config_file),
            "directory",
            "import",
            str(SAMPLES / "units.csv"),
            str(SAMPLES / "mailboxes.csv"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 1  # bad rows were reported
    assert "imported 3" in out.stdout and "mailboxes.csv:8: kind" in out.stderr


def test_mailboxes_json_as_of(tmp_path: Path, config_file: Path) -> None:
    def mailmon(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor.cli", "--config", str(config_file), *args],
            capture_output=True,
            text=True,
            cwd=REPO,
        )

    mailmon("directory", "import", str(SAMPLES / "units.csv"), str(SAMPLES / "mailboxes.csv"))
    ingest = mailmon("ingest", "dovecot-log", str(SAMPLES_DIR / "dovecot" / "file-orig-user.log"))
    assert ingest.returncode == 0, ingest.stderr
    out = mailmon("mailboxes", "--as-of", "2027-03-01", "--json")
    assert out.returncode == 0, out.stderr
    boxes = {b["address"]: b for b in __import__("json").loads(out.stdout)}
    hoa = boxes["hoant.stttt@example.gov.vn"]
    assert hoa["last_login"] == "2026-11-22T10:17:44+07:00"  # its ManageSieve login; monitor logins never count
    assert hoa["state"] == "suspend-due"
    assert {f["rule"] for f in hoa["findings"]} >= {"inactive-mailbox", "password-age"}
    vp = boxes["vanphong@example.gov.vn"]
    assert vp["last_login"] is None  # only master-user logins for this box in the log
    assert set(vp) == {
        "address",
        "unit",
        "kind",
        "last_login",
        "state",
        "findings",
        "checks_per_working_day",
        "quota_used_bytes",
    }
    earlier = __import__("json").loads(
        mailmon("mailboxes", "--as-of", "2026-11-23", "--json", "--unit", "stttt").stdout
    )
    assert {b["address"]: b["state"] for b in earlier}["hoant.stttt@example.gov.vn"] == "active"
    departed = __import__("json").loads(mailmon("mailboxes", "--status", "departed", "--json").stdout)
    assert [b["address"] for b in departed] == ["minhlv.vp.stttt@example.gov.vn"]


def test_heads_and_box_holders_are_kept_with_their_changes(tmp_path: Path, store_target: StoreTarget) -> None:
    store = Store(store_target)
    units = tmp_path / "units.csv"
    boxes = tmp_path / "mailboxes.csv"
    boxes.write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb,password_reset_at\n"
        "vanphong@example.gov.vn,Văn phòng,stttt,unit,active,2020-01-10,2026-10-01,,2026-11-03\n",
        encoding="utf-8",
    )
    header = "unit,name,parent,it_contact,head,head_since,box_holder,box_holder_since\n"
    units.write_text(header + "stttt,Sở TT&TT,,cntt@example.gov.vn,Trần Văn A,2024-01-01,Lê Thị B,\n", "utf-8")
    first = import_csv(store, units, boxes)
    assert first.errors == [] and first.people_changed == 2
    assert store.unit_people.latest_changes() == {}  # who was there first is no change
    reset = "SELECT password_reset_at FROM mailboxes WHERE address = ?"
    assert tables(store_target).value(reset, ["vanphong@example.gov.vn"]) == "2026-11-03"
    assert import_csv(store, units, boxes).people_changed == 0  # the same names again
    units.write_text(header + "stttt,Sở TT&TT,,cntt@example.gov.vn,Phạm Văn C,2026-11-16,Lê Thị B,\n", "utf-8")
    assert import_csv(store, units, boxes).people_changed == 1
    assert store.unit_people.latest_changes() == {("stttt", "head"): ("Trần Văn A", "Phạm Văn C", "2026-11-16")}
    assert store.unit_people.current()[("stttt", "holder")] == "Lê Thị B"
    units.write_text(header + "stttt,Sở TT&TT,,cntt@example.gov.vn,,2026-11-16,,\n", "utf-8")
    assert import_csv(store, units, boxes).errors == ["units.csv:2: head_since: given without head"]
