"""Viruses through a real clamd (the stack's, with an EICAR body signature written at start).

EICAR is built in code (mailstack.eicar(): two halves), so no file of the repository matches it.
The client's framing is tested against the real clamd too; only the failure modes clamd cannot be
made to show on demand (garbage, silence, a hang-up) use a tiny local server.
"""

from __future__ import annotations

import asyncio
import io
import json
import smtplib
import subprocess
import sys
import time
import zipfile
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailstack import CLAMD_EICAR_NAME, MailStack, eicar
from monitor.config import load_config
from monitor.inspect.pipeline import evaluate, with_antivirus
from monitor.scanners.clamd import CHUNK, ClamdClient, ClamdUnavailable, parse_reply
from monitor.store import Store
from rules.base import Action
from rules.facts import AntivirusResult
from tests.conftest import REPO, FilterFactory, store_target_for, write_config
from tests.samples.make_samples import message

PARTNER = "lanhdao@partner.gov.vn"
HOANT = "hoant.stttt@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"
REFUSED = "127.0.0.1:9"  # discard port: nothing listens there on the test machine

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def clamav(stack: MailStack, **keys: object) -> str:
    lines = ["[clamav]", "enabled = true", f'address = "127.0.0.1:{stack.ports.clamd}"', "timeout_seconds = 10"]
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def client(stack: MailStack, **kw: object) -> ClamdClient:
    args: dict[str, object] = {"timeout": 10, "stream_max": 25 * 2**20, **kw}
    return ClamdClient(f"127.0.0.1:{stack.ports.clamd}", **args)  # type: ignore[arg-type]


def eicar_in_zip_in_message() -> EmailMessage:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("tai-lieu/huong-dan.txt", eicar())
    inner = message("Tài liệu", sender=PARTNER, attachments=[("tai-lieu.zip", buf.getvalue(), "application/zip")])
    outer = message("Fwd: tài liệu", sender=PARTNER, to=VANPHONG)
    outer.add_attachment(inner)
    return outer


def deferred_reason(stack: MailStack) -> str:
    return " | ".join(str(r.get("delay_reason", "")) for q in stack.queue() for r in q.get("recipients", []))


# -- the rules and the verdict: pure ----------------------------------------------------------


def test_clamd_answers_are_parsed_strictly() -> None:
    assert parse_reply(b"stream: OK\0").status == "clean"
    found = parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0")
    assert (found.status, found.signature) == ("infected", "Win.Test.EICAR_HDB-1")
    assert parse_reply(b"INSTREAM size limit exceeded. ERROR\0").status == "unscanned"
    for garbage in (b"Can't allocate memory ERROR\0", b"xstream: OK\0", b"PONG\0", b"\0"):
        with pytest.raises(ClamdUnavailable):
            parse_reply(garbage)


def test_verdict_merges_the_antivirus_result_with_config_actions(tmp_path: Path) -> None:
    settings = load_config(write_config(tmp_path, '[rules.virus]\naction = "quarantine"\n')).evaluation_settings()
    clean = evaluate(message("Sạch", sender=PARTNER).as_bytes(), PARTNER, (VANPHONG,), settings)
    assert with_antivirus(clean, AntivirusResult("clean"), settings) == clean
    infected = with_antivirus(clean, AntivirusResult("infected", signature="X.Y"), settings)
    assert infected.verdict.action == Action.QUARANTINE  # [rules.virus] wins over the default reject
    (finding,) = infected.findings
    assert (finding.rule, finding.detail, str(finding.severity)) == ("virus", "X.Y", "critical")
    assert finding.citation == "DN-2022 Đ13.2, DN-2022 Đ12.5"  # the profile in force, no other province
    unscanned = with_antivirus(clean, AntivirusResult("unscanned", detail="too big"), settings)
    assert unscanned.verdict.action == Action.TAG and unscanned.findings[0].rule == "virus-unscanned"


def test_clamav_is_off_by_default_and_on_in_the_example(tmp_path: Path) -> None:
    assert not load_config(write_config(tmp_path)).clamav.enabled
    example = load_config(REPO / "config.toml").clamav
    assert example.enabled and example.address == "127.0.0.1:13310" and not example.fail_open
    assert example.stream_max_bytes == 25 * 2**20


# -- the client against the real clamd --------------------------------------------------------


@pytest.mark.stack
def test_client_ping_clean_and_eicar(stack: MailStack) -> None:
    c = client(stack)
    assert asyncio.run(c.ping())
    assert not asyncio.run(ClamdClient(REFUSED, timeout=2, stream_max=2**20).ping())
    assert asyncio.run(c.scan_bytes(b"")).status == "clean"
    assert asyncio.run(c.scan_bytes(b"Kinh gui anh chi\r\n")).status == "clean"
    result = asyncio.run(c.scan_bytes(eicar()))
    assert (result.status, result.signature) == ("infected", CLAMD_EICAR_NAME)


@pytest.mark.stack
def test_client_framing_across_chunk_boundaries(stack: MailStack) -> None:
    c = client(stack)
    # EICAR split over two INSTREAM chunks: clamd must see one stream, so the framing is right.
    straddling = b"x" * (CHUNK - 30) + eicar() + b"y" * CHUNK
    assert asyncio.run(c.scan_bytes(straddling)).status == "infected"
    # An exact multiple of the chunk size: no stray empty chunk (that would end the stream early).
    exact = b"z" * (2 * CHUNK - len(eicar())) + eicar()
    assert len(exact) % CHUNK == 0
    assert asyncio.run(c.scan_bytes(exact)).status == "infected"
    assert asyncio.run(c.scan_bytes(b"z" * (3 * CHUNK))).status == "clean"


@pytest.mark.stack
def test_client_scans_a_file_and_many_at_once(stack: MailStack, tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(eicar_in_zip_in_message().as_bytes())

    async def many() -> list[str]:
        c = client(stack, max_concurrent=2)
        with path.open("rb") as f:
            first = await c.scan(f, path.stat().st_size)
        rest = await asyncio.gather(*(c.scan_bytes(b"clean %d" % i) for i in range(20)))
        return [first.status, *(r.status for r in rest)]

    assert asyncio.run(many()) == ["infected"] + ["clean"] * 20


@pytest.mark.stack
def test_client_over_stream_max_is_unscanned_without_sending(stack: MailStack) -> None:
    # Nothing listens on REFUSED: the result comes from the size check alone.
    small = ClamdClient(REFUSED, timeout=2, stream_max=2**20)
    result = asyncio.run(small.scan(io.BytesIO(eicar()), 2**20 + 1))
    assert result.status == "unscanned" and "StreamMaxLength (1 MiB)" in result.detail
    # A body longer than it claimed stops at the limit too.
    sneaky = client(stack, stream_max=CHUNK)
    assert asyncio.run(sneaky.scan(io.BytesIO(b"a" * (2 * CHUNK)), 10)).status == "unscanned"


@pytest.mark.stack
def test_client_stream_max_above_clamds_limit_is_never_clean(stack: MailStack) -> None:
    # Misconfigured: clamd's StreamMaxLength is 25M, ours 64 MiB; clamd resets the stream.
    c = client(stack, stream_max=64 * 2**20)
    try:
        result = asyncio.run(c.scan_bytes(b"b" * (26 * 2**20)))
    except ClamdUnavailable as exc:
        assert "StreamMaxLength" in str(exc)
    else:  # clamd's own reply won the race with the reset
        assert result.status == "unscanned"
    assert asyncio.run(c.ping())  # clamd itself is fine


@pytest.mark.stack
def test_client_over_a_unix_socket(stack: MailStack, tmp_path: Path) -> None:
    # The stack's clamd listens on TCP; a unix-socket relay in front of it exercises the other path.
    sock = tmp_path / "clamd.sock"

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        finally:
            w.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", stack.ports.clamd)
        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer), return_exceptions=True)

    async def main() -> tuple[bool, AntivirusResult]:
        server = await asyncio.start_unix_server(relay, path=str(sock))
        try:
            c = ClamdClient(str(sock), timeout=10, stream_max=2**20)
            return await c.ping(), await c.scan_bytes(b"hdr: 1\r\n\r\n" + eicar())
        finally:
            server.close()

    pong, result = asyncio.run(main())
    assert pong and result.signature == CLAMD_EICAR_NAME


async def _against(handler: Handler, timeout: float = 5) -> AntivirusResult:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await ClamdClient(f"127.0.0.1:{port}", timeout=timeout, stream_max=2**20).scan_bytes(b"hello")
    finally:
        server.close()


def test_client_errors_are_typed() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(len(b"zINSTREAM\0"))
        writer.write(b"HELLO THERE\0")
        await writer.drain()
        writer.close()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    for handler, words in ((garbage, "HELLO THERE"), (hang_up, "127.0.0.1"), (silent, "no verdict within")):
        started = time.monotonic()
        with pytest.raises(ClamdUnavailable, match=words):
            asyncio.run(_against(handler, timeout=0.5))
        assert time.monotonic() - started < 3
    with pytest.raises(ClamdUnavailable, match="ConnectionRefused"):
        asyncio.run(ClamdClient(REFUSED, timeout=2, stream_max=2**20).scan_bytes(b"x"))


# -- the filter in Postfix's flow -------------------------------------------------------------


@pytest.mark.stack
def test_eicar_attachment_is_rejected_with_the_clause(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter(clamav(stack))
    msg = message("Báo giá", sender=HOANT, to=VANPHONG, attachments=[("bao-gia.txt", eicar(), "text/plain")])
    stack.send(msg, HOANT, [VANPHONG])
    stack.wait_until(lambda: any("virus" in m.as_string() for m in stack.delivered(HOANT)), 30, "the bounce")
    bounce = next(m for m in stack.delivered(HOANT) if "virus" in m.as_string()).as_string()
    assert "(virus, DN-2022 D13.2" in bounce
    assert not stack.delivered(VANPHONG)
    (finding,) = [f for f in Store(store_target_for(proc.config.parent)).messages.recent_findings() if f["rule"] == "virus"]
    assert finding["detail"] == CLAMD_EICAR_NAME


@pytest.mark.stack
def test_eicar_in_a_zip_in_an_attached_message(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter(clamav(stack), mode="before-queue")
    with pytest.raises(smtplib.SMTPDataError) as info:
        stack.send(eicar_in_zip_in_message(), PARTNER, [VANPHONG], port=stack.ports.smtp_prequeue)
    assert info.value.smtp_code == 550 and b"(virus, DN-2022 D13.2" in info.value.smtp_error


@pytest.mark.stack
def test_clean_mail_passes(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter(clamav(stack))
    stack.send(message("Sạch", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "delivery")
    delivered = stack.delivered(VANPHONG)[0]
    assert "X-Mailmon-Virus-Scan" not in delivered and "X-Mailmon-Finding" not in delivered


@pytest.mark.stack
def test_clamd_down_fails_closed_then_delivers(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter(clamav(stack))
    assert stack.clamd is not None
    stack.clamd.stop()
    try:
        stack.send(message("Chờ quét", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
        stack.wait_until(
            lambda: "451 4.7.1" in deferred_reason(stack) and "Virus scanner unavailable" in deferred_reason(stack),
            30,
            "the filter's 451 4.7.1 as the deferral reason",
        )
        assert not stack.delivered(VANPHONG)
        assert "clamd unavailable" in proc.logs()
    finally:
        stack.clamd.start(time.monotonic() + 30)
    stack.flush_queue()
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1 and not stack.queue(), 30, "delivery after clamd")
    assert "X-Mailmon-Virus-Scan" not in stack.delivered(VANPHONG)[0]


@pytest.mark.stack
def test_fail_open_passes_with_a_header(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter(clamav(stack, fail_open=True).replace(f"127.0.0.1:{stack.ports.clamd}", REFUSED))
    stack.send(message("Không quét", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "delivery without clamd")
    delivered = stack.delivered(VANPHONG)[0]
    assert delivered["X-Mailmon-Virus-Scan"] == "not scanned (clamd unavailable)"
    assert "virus-unscanned" in str(delivered["X-Mailmon-Finding"])
    assert "fail_open" in proc.logs()


@pytest.mark.stack
def test_over_stream_max_is_unscanned_not_a_pass(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter(clamav(stack, stream_max_bytes=1048576))
    big = message(
        "Lớn", sender=PARTNER, to=VANPHONG, attachments=[("a.pdf", b"%PDF" + b"x" * 2_000_000, "application/pdf")]
    )
    stack.send(big, PARTNER, [VANPHONG])
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "the tagged delivery")
    assert "virus-unscanned" in str(stack.delivered(VANPHONG)[0]["X-Mailmon-Finding"])
    (finding,) = Store(store_target_for(proc.config.parent)).messages.recent_findings()
    assert finding["rule"] == "virus-unscanned" and "StreamMaxLength (1 MiB)" in finding["detail"]


# -- mailmon scan -------------------------------------------------------------------------------


def _scan(config: Path, eml: Path) -> subprocess.CompletedProcess[str]:
    argv = ["scan", "--config", str(config), "--json", "--mail-from", PARTNER, "--rcpt", VANPHONG, str(eml)]
    return subprocess.run([sys.executable, "-m", "monitor.cli", *argv], capture_output=True, text=True, cwd=REPO)


@pytest.mark.stack
def test_scan_cli_reports_virus(stack: MailStack, tmp_path: Path) -> None:
    eml = tmp_path / "v.eml"
    eml.write_bytes(eicar_in_zip_in_message().as_bytes())
    out = _scan(write_config(tmp_path, clamav(stack)), eml)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["verdict"] == "reject"
    assert [(v["rule"], v["detail"]) for v in result["violations"]] == [("virus", CLAMD_EICAR_NAME)]
    (att,) = result["attachments"]
    assert any(m["name"] == "tai-lieu/huong-dan.txt" and m["depth"] == 2 for m in att["members"])


def test_scan_cli_without_clamd_reports_unscanned(tmp_path: Path) -> None:
    eml = tmp_path / "v.eml"
    eml.write_bytes(eicar_in_zip_in_message().as_bytes())
    config = write_config(tmp_path, f'[clamav]\nenabled = true\naddress = "{REFUSED}"\ntimeout_seconds = 2\n')
    out = _scan(config, eml)
    assert out.returncode == 0, out.stderr
    (violation,) = json.loads(out.stdout)["violations"]
    assert violation["rule"] == "virus-unscanned" and "ConnectionRefused" in violation["detail"]
