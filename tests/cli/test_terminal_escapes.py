"""Terminal escapes in file names, subjects, addresses and directory data never reach the operator's
terminal: every command's output, --json included, carries them escaped as \\uXXXX."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.store import Store
from tests.conftest import StoreTarget, mailmon, tables, write_config

ESC_TITLE = "\x1b]0;pwned\x07"  # sets the terminal's title
ESC_CLEAR = "\x1b[2J\x1b[H"  # clears the screen
BIDI = "\u202e"  # right-to-left override: "exe.pdf" read backwards
CSI_C1 = "\x9b31m"  # the one-byte CSI of some terminals
HOSTILE = f"Báo cáo{ESC_TITLE}{ESC_CLEAR}\r{BIDI}fdp.exe{CSI_C1}"

# Control characters other than newline and tab, C1 controls, bidirectional formatting characters.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")



def test_every_command_escapes_what_senders_wrote(tmp_path: Path, store_target: StoreTarget) -> None:
    config = write_config(tmp_path)
    store = Store(store_target)
    eml = tmp_path / "quarantine" / "q.eml"
    eml.parent.mkdir()
    eml.write_bytes(f"From: a@b.c\r\nSubject: {HOSTILE}\r\n\r\n{HOSTILE}\r\n".encode())
    now = datetime.now(UTC)
    store.quarantine.add({
        "id": "20261207T000000-0badc0de", "path": str(eml), "size": eml.stat().st_size, "sha256": "0",
        "mail_from": f"x{ESC_CLEAR}@example.com", "rcpt_tos": ["vanphong@example.gov.vn"],
        "reason": f"executable-attachment: {HOSTILE}", "message_id": "<m@x>", "queue_id": "Q1",
    })
    tables(store_target).insert("held_senders", {
        "sender": f"hoant{ESC_TITLE}@example.gov.vn", "since": now.isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(), "reason": HOSTILE, "released_at": None,
    })
    store.close()
    units = tmp_path / "units.csv"
    units.write_text(f"unit,name,parent,it_contact\nstttt,{HOSTILE},,cntt@example.gov.vn\n")
    boxes = tmp_path / "mailboxes.csv"
    boxes.write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        f'hoant.stttt@example.gov.vn,"{HOSTILE}",stttt,personal,active,2025-01-01,2026-10-01,1024\n'
    )
    assert mailmon(config, "directory", "import", str(units), str(boxes)).returncode == 0

    outputs = {
        "quarantine list": mailmon(config, "quarantine", "list"),
        "quarantine list --json": mailmon(config, "quarantine", "list", "--json"),
        "quarantine show": mailmon(config, "quarantine", "show", "20261207T000000-0badc0de"),
        "senders list": mailmon(config, "senders", "list"),
        "mailboxes": mailmon(config, "mailboxes"),
        "mailboxes --json": mailmon(config, "mailboxes", "--json"),
        "no such id": mailmon(config, "quarantine", "show", f"nope{ESC_CLEAR}"),
    }
    for name, out in outputs.items():
        assert not UNSAFE.search(out.stdout + out.stderr), (name, out.stdout, out.stderr)
    # The hostile text did reach the printing, and shows as escapes.
    for name in ("quarantine list", "quarantine show", "senders list", "no such id"):
        text = outputs[name].stdout + outputs[name].stderr
        assert "\\u001b" in text, (name, text)
    assert "\\u202e" in outputs["quarantine show"].stdout and "Báo cáo" in outputs["quarantine show"].stdout
    # --json stays valid JSON and gives back exactly what was stored.
    rows = json.loads(outputs["quarantine list --json"].stdout)
    assert rows[0]["reason"] == f"executable-attachment: {HOSTILE}"
    json.loads(outputs["mailboxes --json"].stdout)
