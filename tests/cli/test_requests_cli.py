"""`mailmon requests`: a unit's requests to the IT department, their due days under the profile in force,
overdue ones as findings; a completed reset starts the first-login-password clock; a new unit head
starts the unit-handover one. Run as the real command, on a real store."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import StoreTarget, mailmon, tables, write_config

UNITS = "unit,name,parent,it_contact,head,head_since,box_holder,box_holder_since\n"



def directory(tmp_path: Path, config: Path, head: str, holder: str, since: str) -> None:
    (tmp_path / "units.csv").write_text(
        UNITS + f"stttt,Sở Thông tin và Truyền thông,,cntt@example.gov.vn,{head},{since},{holder},{since}\n",
        encoding="utf-8",
    )
    (tmp_path / "mailboxes.csv").write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        "hoant.stttt@example.gov.vn,Nguyễn Thị Hoa,stttt,personal,active,2024-01-02,2026-10-01,\n"
        "vanphong@example.gov.vn,Văn phòng,stttt,unit,active,2020-01-10,2026-10-01,\n",
        encoding="utf-8",
    )
    out = mailmon(config, "directory", "import", str(tmp_path / "units.csv"), str(tmp_path / "mailboxes.csv"))
    assert out.returncode == 0, out.stdout + out.stderr


def config_for(tmp_path: Path, profile: str) -> Path:
    return write_config(tmp_path, f'[profile]\nname = "{profile}"\n')


def test_deadlines_and_overdue_requests_under_dn_2022(tmp_path: Path, store_target: StoreTarget) -> None:
    config = config_for(tmp_path, "dn-2022")
    directory(tmp_path, config, "Trần Văn A", "Lê Thị B", "2025-01-01")
    # Restore asked Tue 24/11/2026: DN-2022 Đ8.3 gives 2 working days, due Thu 26/11.
    out = mailmon(config, "requests", "add", "--kind", "restore", "--mailbox", "hoant.stttt@example.gov.vn",
                  "--unit", "stttt", "--at", "2026-11-24", "--note", "CV 123/STTTT")
    assert out.returncode == 0, out.stderr
    assert "#1" in out.stdout and "hạn / due 26/11/2026 (DN-2022 Đ8.3)" in out.stdout
    # Reset asked Mon 30/11: 1 working day (Đ7.2), due Tue 01/12.
    mailmon(config, "requests", "add", "--kind", "reset", "--mailbox", "vanphong@example.gov.vn",
            "--unit", "stttt", "--at", "2026-11-30T08:00")

    listed = mailmon(config, "requests", "list", "--overdue", "--as-of", "2026-11-27", "--json")
    (overdue,) = json.loads(listed.stdout)
    assert overdue["id"] == 1 and overdue["due"] == "2026-11-26"
    assert overdue["findings"][0]["citation"] == "DN-2022 Đ8.3"

    done = mailmon(config, "requests", "done", "2", "--at", "2026-12-01T10:00")
    assert done.returncode == 0 and "#2" in done.stdout
    assert mailmon(config, "requests", "done", "2").returncode == 2  # only once
    assert mailmon(config, "requests", "done", "99").returncode == 2
    text = mailmon(config, "requests", "list", "--as-of", "2026-12-02").stdout
    assert "QUÁ HẠN / OVERDUE" in text and "xong / done 01/12/2026" in text
    assert "2 đề nghị / requests, 1 quá hạn / overdue (DN-2022)" in text

    # The reset done on 01/12 and a login after it without a new password: DN-2022 Đ7.3.
    tables(store_target).insert(
        "last_login", {"user": "vanphong@example.gov.vn", "time": "2026-12-01T14:00:00+07:00", "source": "test"}
    )
    boxes = json.loads(mailmon(config, "mailboxes", "--as-of", "2026-12-02", "--json").stdout)
    vanphong = next(b for b in boxes if b["address"] == "vanphong@example.gov.vn")
    assert {"rule": "first-login-password", "citation": "DN-2022 Đ7.3"} in [
        {k: f[k] for k in ("rule", "citation")} for f in vanphong["findings"]
    ]


def test_bad_requests_are_refused_with_a_reason(tmp_path: Path) -> None:
    config = config_for(tmp_path, "dn-2022")
    directory(tmp_path, config, "Trần Văn A", "Lê Thị B", "2025-01-01")
    bad_unit = mailmon(config, "requests", "add", "--kind", "create", "--mailbox", "x@example.gov.vn", "--unit", "nope")
    assert bad_unit.returncode == 2 and "'nope' is not in the directory" in bad_unit.stderr
    bad_box = mailmon(config, "requests", "add", "--kind", "create", "--mailbox", "x at y", "--unit", "stttt")
    assert bad_box.returncode == 2 and "not an e-mail address" in bad_box.stderr
    bad_note = mailmon(config, "requests", "add", "--kind", "create", "--mailbox", "x@example.gov.vn",
                       "--unit", "stttt", "--note", "a\x1b[2Jb")
    assert bad_note.returncode == 2 and "control characters" in bad_note.stderr
    assert mailmon(config, "requests", "add", "--kind", "explode", "--mailbox", "x@example.gov.vn",
                   "--unit", "stttt").returncode == 2  # argparse's own refusal


def test_no_deadline_where_the_regulation_states_none(tmp_path: Path) -> None:
    config = config_for(tmp_path, "lc-2015")
    directory(tmp_path, config, "Trần Văn A", "Lê Thị B", "2025-01-01")
    out = mailmon(config, "requests", "add", "--kind", "restore", "--mailbox", "hoant.stttt@example.gov.vn",
                  "--unit", "stttt", "--at", "2026-01-05")
    assert "không có thời hạn / no deadline (LC-2015 không quy định / states none)" in out.stdout
    listed = json.loads(mailmon(config, "requests", "list", "--overdue", "--json").stdout)
    assert listed == []


def test_a_new_unit_head_starts_the_handover_rule(tmp_path: Path) -> None:
    config = config_for(tmp_path, "lc-2015")
    directory(tmp_path, config, "Trần Văn A", "Lê Thị B", "2025-01-01")
    boxes = json.loads(mailmon(config, "mailboxes", "--as-of", "2026-12-02", "--json").stdout)
    assert not [f for b in boxes for f in b["findings"] if f["rule"] == "unit-handover"]  # the first head is no change
    # A new head from 16/11/2026; the unit box's password was last changed on 01/10: LC-2015 Đ10.3.
    directory(tmp_path, config, "Phạm Văn C", "Lê Thị B", "2026-11-16")
    boxes = json.loads(mailmon(config, "mailboxes", "--as-of", "2026-12-02", "--json").stdout)
    (finding,) = [f for b in boxes for f in b["findings"] if f["rule"] == "unit-handover"]
    assert finding["citation"] == "LC-2015 Đ10.3"
    assert "Trần Văn A" in finding["detail"] and "Phạm Văn C" in finding["detail"] and "16/11/2026" in finding["detail"]
    assert "the regulation states no deadline" in finding["detail"]
    # DN-2022 Đ9.3 hangs on the box's holder, who did not change.
    dn = config_for(tmp_path, "dn-2022")
    boxes = json.loads(mailmon(dn, "mailboxes", "--as-of", "2026-12-02", "--json").stdout)
    assert not [f for b in boxes for f in b["findings"] if f["rule"] == "unit-handover"]


def test_a_login_from_outside_the_trusted_networks_is_found(tmp_path: Path) -> None:
    """[organization] trusted_networks reaches the rule: DN-2022 Đ12.3 (a limit: advisory)."""
    log = tmp_path / "dovecot.log"
    log.write_text(
        "2026-11-30 08:05:00 imap-login: Info: Login: user=<hoant.stttt@example.gov.vn>, method=PLAIN, "
        "rip=10.1.2.3, lip=10.0.0.1, mpid=1, secured, session=<aaaaaaaaaaaaaaaa>\n"
        "2026-11-30 21:40:00 imap-login: Info: Login: user=<hoant.stttt@example.gov.vn>, method=PLAIN, "
        "rip=203.113.1.5, lip=10.0.0.1, mpid=2, secured, session=<bbbbbbbbbbbbbbbb>\n",
        encoding="utf-8",
    )
    for n, (trusted, expected) in enumerate((('["10.0.0.0/8"]', ["DN-2022 Đ12.8, DN-2022 Đ12.3"]), ("[]", []))):
        work = tmp_path / f"run{n}"  # a fresh store each time
        work.mkdir()
        config = write_config(work, "")
        text = config.read_text("utf-8").replace(
            'government_domains = ["gov.vn"]', f'government_domains = ["gov.vn"]\ntrusted_networks = {trusted}'
        )
        config.write_text(text + "[profile.overrides.rules.address-format]\ndomains = [\"example.gov.vn\"]\n", "utf-8")
        directory(tmp_path, config, "Trần Văn A", "Lê Thị B", "2025-01-01")
        assert mailmon(config, "ingest", "dovecot-log", str(log)).returncode == 0
        boxes = json.loads(mailmon(config, "mailboxes", "--as-of", "2026-11-30", "--json").stdout)
        found = [f for b in boxes for f in b["findings"] if f["rule"] == "login-anomaly"]
        assert [f["citation"] for f in found] == expected
        if expected:
            assert "203.113.1.5" in found[0]["detail"] and "10.1.2.3" not in found[0]["detail"]
