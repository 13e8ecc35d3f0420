"""Recursive archive inspection: every format, encryption, nesting, and hostile input within the limits."""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.inspect.archives import Report, inspect_attachment
from monitor.inspect.filetypes import sniff
from monitor.inspect.limits import Budget, Limits
from monitor.inspect.pipeline import Settings, evaluate
from rules.facts import Domains
from rules.profile import load_profile
from tests.conftest import SAMPLES_DIR
from tests.samples.archive_builders import (
    PDF_STUB,
    PE,
    arj_bytes,
    bsdtar_create,
    cab_bytes,
    docx_bytes,
    gzip_bomb,
    mark_encrypted,
    nested_zip_bomb,
    overlapping_zip_bomb,
    rar4_bytes,
    rar5_bytes,
    sevenzip_bytes,
    tar_bytes,
    zip_bytes,
)

FILES = {"docs/bao-cao.pdf": PDF_STUB, "docs/setup.exe": PE}
BUILDERS: dict[str, Callable[[], bytes]] = {
    "zip": lambda: zip_bytes(FILES),
    "tar": lambda: tar_bytes(FILES),
    "tgz": lambda: tar_bytes(FILES, "w:gz"),
    "tbz2": lambda: tar_bytes(FILES, "w:bz2"),
    "txz": lambda: tar_bytes(FILES, "w:xz"),
    "7z": lambda: sevenzip_bytes(FILES),
    "rar4": lambda: rar4_bytes(FILES),
    "rar5": lambda: rar5_bytes(FILES),
    "cab": lambda: cab_bytes(FILES),
    "arj": lambda: arj_bytes(FILES),
    "cpio": lambda: bsdtar_create("cpio", FILES),
    "iso": lambda: bsdtar_create("iso9660", FILES),
}
SETTINGS = Settings(
    domains=Domains(local=("example.gov.vn",), government=("gov.vn",)),
    profile=load_profile("dn-2022"),
    limits=Limits(),
)


def inspect(data: bytes, name: str = "att.bin", limits: Limits | None = None) -> tuple[Report, list[str]]:
    hits: list[str] = []
    report = inspect_attachment(data, name, sniff(data[:0x9006]), Budget(limits or Limits(), hits))
    return report, hits


def mail(filename: str, data: bytes, ctype: str = "application/octet-stream") -> bytes:
    import base64

    body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        b"From: nguoi.la@example.com\r\nTo: vanphong@example.gov.vn\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nxem\r\n"
        b"--B\r\nContent-Type: " + ctype.encode() + b"\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="' + filename.encode() + b'"\r\n\r\n' + body + b"--B--\r\n"
    )


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_exe_found_in_every_format(fmt: str) -> None:
    report, hits = inspect(BUILDERS[fmt](), f"att.{fmt}")
    types = {m.name: (m.true_type, m.depth) for m in report.members}
    assert types["docs/setup.exe"] == ("pe", 1), (fmt, types, hits)
    assert types["docs/bao-cao.pdf"] == ("pdf", 1)
    assert not hits, hits
    result = evaluate(mail(f"att.{fmt}", BUILDERS[fmt]()), "a@gmail.com", ("b@example.gov.vn",), SETTINGS)
    assert [f.rule for f in result.findings] == ["executable-attachment"]
    assert "docs/setup.exe (mức 1)" in result.findings[0].detail


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_single_file_streams(compress: Callable[[bytes], bytes]) -> None:
    report, hits = inspect(compress(PE), "hoa-don.pdf.gz")
    assert [(m.true_type, m.depth) for m in report.members] == [("pe", 1)]
    assert not hits


def test_gzip_keeps_its_stored_name() -> None:
    data = gzip.compress(PE)
    named = data[:3] + bytes([data[3] | 0x08]) + data[4:10] + b"setup.exe\x00" + data[10:]
    report, _ = inspect(named, "x.gz")
    assert report.members[0].name == "setup.exe"


def test_nested_zip_in_7z_in_tar() -> None:
    inner = zip_bytes({"deep/run.exe": PE})
    data = tar_bytes({"x.7z": sevenzip_bytes({"in.zip": inner})})
    report, hits = inspect(data, "bo.tar")
    assert [(m.name, m.depth, m.true_type) for m in report.members] == [
        ("x.7z", 1, "7z"),
        ("in.zip", 2, "zip"),
        ("deep/run.exe", 3, "pe"),
    ]
    assert not hits


def test_signed_word_document_is_not_an_executable() -> None:
    report, hits = inspect(docx_bytes(signed=True), "ky-so.docx")
    assert report.kind == "ooxml" and report.members == [] and not report.macro and not hits
    signed = docx_bytes("Báo cáo quý IV", signed=True)
    result = evaluate(mail("ky-so.docx", signed), "a@gmail.com", ("b@example.gov.vn",), SETTINGS)
    assert result.findings == ()


def test_depth_limit() -> None:
    data = PE
    for i in range(4):
        data = zip_bytes({f"l{i}.zip" if i else "run.exe": data})
    report, hits = inspect(data, "x.zip", Limits(max_archive_depth=2))
    assert max(m.depth for m in report.members) == 2
    assert any("nested deeper than 2" in h for h in hits)


@pytest.mark.parametrize(
    ("data", "names_visible"),
    [
        (mark_encrypted(zip_bytes(FILES)), True),
        (mark_encrypted(zip_bytes(FILES), aes=True), True),
        (sevenzip_bytes(FILES, "pw"), True),
        (sevenzip_bytes(FILES, "pw", header_encryption=True), False),
        (rar5_bytes(FILES, encrypted=True), True),
        (rar5_bytes(FILES, header_encrypted=True), False),
    ],
    ids=["zipcrypto", "zip-aes", "7z", "7z-headers", "rar5", "rar5-headers"],
)
def test_encryption(data: bytes, names_visible: bool) -> None:
    report, _ = inspect(data)
    assert report.encrypted
    assert {m.name for m in report.members} == (set(FILES) if names_visible else set())
    assert all(m.encrypted for m in report.members)


def test_encrypted_zip_inside_tar_marks_the_attachment() -> None:
    report, _ = inspect(tar_bytes({"a.zip": mark_encrypted(zip_bytes(FILES))}))
    assert report.encrypted
    assert [m.encrypted for m in report.members] == [False, True, True]


# --- hostile input: each ends quickly, with a limit hit, without an exception -------------------


def _timed(data: bytes, name: str) -> tuple[list[str], float]:
    started = time.perf_counter()
    _, hits = inspect(data, name)
    return hits, time.perf_counter() - started


def test_nested_zip_bomb() -> None:
    hits, seconds = _timed(nested_zip_bomb(), "42.zip")
    assert hits and seconds < 2


def test_overlapping_zip_bomb() -> None:
    hits, seconds = _timed(overlapping_zip_bomb(), "ov.zip")
    assert any("overlap" in h for h in hits) and seconds < 2


def test_gzip_bomb() -> None:
    hits, seconds = _timed(gzip_bomb(2**30), "zeros.gz")
    assert hits and seconds < 2


def test_7z_bomb_is_judged_by_declared_sizes() -> None:
    hits, seconds = _timed(sevenzip_bytes({"z.bin": b"\x00" * 2**27}), "z.7z")
    assert any("bomb" in h for h in hits) and seconds < 2


def test_member_count_limit() -> None:
    hits, _ = _timed(tar_bytes({f"f{i}.txt": b"" for i in range(1500)}, "w:gz"), "many.tgz")
    assert any("more than 1000 archive members" in h for h in hits)


def test_time_budget_stops_inspection() -> None:
    ticks = iter(range(1000))
    budget = Budget(Limits(max_inspection_seconds=3), [], clock=lambda: float(next(ticks)))
    inspect_attachment(zip_bytes({f"{i}.txt": b"x" for i in range(50)}), "z.zip", "zip", budget)
    assert any("longer than 3 s" in h for h in budget.hits)


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_truncated_and_corrupt_archives(fmt: str) -> None:
    data = BUILDERS[fmt]()
    for broken in (data[: len(data) // 2], data[:8] + b"\xff" * 64 + data[72:]):
        started = time.perf_counter()
        report, hits = inspect(broken, f"att.{fmt}")
        assert time.perf_counter() - started < 2
        # Either the damage is reported, or what was read is still right (a tar cut after its members).
        assert hits or report.problems or any(m.true_type == "pe" for m in report.members), fmt


@functools.cache
def _built(fmt: str) -> bytes:
    # Built once: 7z and ISO carry timestamps, and hypothesis needs the same bytes on replay.
    return BUILDERS[fmt]()


@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_archives_never_raise(data: st.DataObject) -> None:
    fmt = data.draw(st.sampled_from(sorted(BUILDERS)))
    raw = bytearray(_built(fmt))
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        if not raw:  # deletions ate a small archive whole
            break
        pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        if data.draw(st.booleans()):
            raw[pos] = data.draw(st.integers(min_value=0, max_value=255))
        else:
            del raw[pos : pos + data.draw(st.integers(min_value=1, max_value=64))]
    result = evaluate(mail(f"x.{fmt}", bytes(raw)), "a@gmail.com", ("b@example.gov.vn",), SETTINGS)
    assert result.seconds < SETTINGS.limits.max_inspection_seconds + 1


def _hostile_messages(tmp: Path) -> list[Path]:
    samples = SAMPLES_DIR / "inspection-limit"
    paths = sorted(p for p in samples.glob("*.eml") if p.stem != "ordinary-message")
    many = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(10_000))
    (tmp / "ten-thousand-parts.eml").write_bytes(
        b"From: a@b.vn\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + many + b"--b--\r\n"
    )
    (tmp / "megabyte-header.eml").write_bytes(b"From: a@b.vn\r\nX-Long: " + b"a" * 2**20 + b"\r\n\r\nbody\r\n")
    (tmp / "gigabyte-gzip.eml").write_bytes(mail("zeros.gz", gzip_bomb(2**30)))
    return [*paths, tmp / "ten-thousand-parts.eml", tmp / "megabyte-header.eml", tmp / "gigabyte-gzip.eml"]


def test_scan_of_hostile_samples_is_fast_and_small(config_file: Path, tmp_path: Path) -> None:
    """`mailmon scan` on each hostile message: under 2 s and 256 MB RSS (measured by GNU time)."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not Path(gnu_time).exists():
        pytest.skip("GNU time is needed to measure the scan's peak RSS")
    scan = [sys.executable, "-m", "monitor.cli", "scan", "--config", str(config_file), "--json"]
    for path in _hostile_messages(tmp_path):
        rss_file = tmp_path / "rss"
        started = time.perf_counter()
        out = subprocess.run(
            [gnu_time, "-f", "%M", "-o", str(rss_file), *scan, str(path)], capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        assert out.returncode == 0, out.stderr
        assert '"inspection-limit"' in out.stdout, (path.name, out.stdout[:500])
        assert seconds < 2, (path.name, seconds)
        rss_mb = int(rss_file.read_text().split()[-1]) / 1024
        assert rss_mb < 256, (path.name, rss_mb)
