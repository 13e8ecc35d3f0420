"""`mailmon scan` keeps its JSON contract: verdict, direction, violations, attachments; exit 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SAMPLES = REPO / "tests" / "samples"


def scan(config: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "scan", "--config", str(config), *args],
        capture_output=True,
        text=True,
        input=stdin.decode() if stdin else None,
    )


def test_json_contract(config_file: Path) -> None:
    eml = SAMPLES / "executable-attachment" / "exe-inside-zip.eml"
    out = scan(
        config_file,
        "--mail-from",
        "hoant.stttt@example.gov.vn",
        "--rcpt",
        "someone@gmail.com",
        "--json",
        str(eml),
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["verdict"] == "reject"
    assert result["direction"] == "outbound"
    assert {"verdict", "direction", "violations", "attachments"} <= set(result)
    (violation,) = result["violations"]
    assert set(violation) == {"rule", "severity", "action", "detail", "citation"}
    assert violation["rule"] == "executable-attachment"
    assert violation["citation"] == "DN-2022 Đ12.6"
    (attachment,) = result["attachments"]
    assert attachment["filename"] == "tai-lieu.zip"
    assert attachment["type"] == "zip"
    assert {m["name"]: m["depth"] for m in attachment["members"]} == {
        "doc/bao-cao.pdf": 1,
        "doc/setup.exe": 1,
    }
    exe = next(m for m in attachment["members"] if m["name"] == "doc/setup.exe")
    assert exe["type"] == "pe" and exe["size"] > 0


def test_directions(config_file: Path) -> None:
    eml = str(SAMPLES / "auto-forward-external" / "plain-inbound-from-gmail.eml")
    cases = {
        ("a@example.gov.vn", "b@example.gov.vn"): "internal",
        ("a@example.gov.vn", "b@gmail.com"): "outbound",
        ("a@gmail.com", "b@example.gov.vn"): "inbound",
        ("a@gmail.com", "b@yahoo.com"): "relay",
    }
    for (sender, rcpt), direction in cases.items():
        out = scan(config_file, "--mail-from", sender, "--rcpt", rcpt, "--json", eml)
        assert json.loads(out.stdout)["direction"] == direction
        assert json.loads(out.stdout)["verdict"] == "pass"


def test_human_summary_is_vietnamese_first(config_file: Path) -> None:
    eml = SAMPLES / "auto-forward-external" / "sieve-redirect-to-gmail.eml"
    out = scan(config_file, "--mail-from", "x@partner.gov.vn", "--rcpt", "someone@gmail.com", str(eml))
    assert out.returncode == 0
    assert out.stdout.startswith("Kết luận / verdict: từ chối / reject")
    assert "DN-2022 Đ13.5" in out.stdout


def test_unusable_input_exits_2(config_file: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\x01\x02 not a message at all\n")
    for path in (empty, junk, tmp_path / "missing.eml"):
        out = scan(config_file, "--json", str(path))
        assert out.returncode == 2, (path, out.stdout)
        assert out.stdout == ""
        assert len(out.stderr.strip().splitlines()) == 1


def test_broken_mime_still_scans(config_file: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.eml"
    broken.write_bytes(
        b"From: a@gmail.com\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
        b'Content-Type: application/octet-stream; name="x.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAA!!!broken"
    )
    out = scan(config_file, "--json", "--rcpt", "b@example.gov.vn", str(broken))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["verdict"] == "reject"
    assert any("closing boundary" in p for p in result["problems"])
