"""What clamd gets for a message: each attachment decoded once, the rest raw — every byte reaches it.

The worker process finds where attachment bodies lie (``Evaluation.attachment_ranges``); the filter
streams those decoded and everything else raw (monitor/scanners/antivirus.py). The EICAR cases below put the
test signature in every place a message can carry it and ask the real clamd.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
from pathlib import Path

import pytest

from mailstack import CLAMD_EICAR_NAME, MailStack, eicar
from monitor.config import load_config
from monitor.inspect.mime import BodyRange
from monitor.inspect.pipeline import MAX_CLAMD_STREAMS, Settings, evaluate
from monitor.inspect.transfer_encoding import PartDecoder
from monitor.scanners.antivirus import rest_of_message, scan_message
from monitor.scanners.clamd import CHUNK, ClamdClient
from rules.facts import AntivirusResult
from tests.conftest import write_config

SENDER, RCPT = "a@example.gov.vn", ("b@partner.gov.vn",)


def settings(tmp_path: Path) -> Settings:
    return load_config(write_config(tmp_path)).evaluation_settings()


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def qp(data: bytes) -> bytes:
    return binascii.b2a_qp(data).replace(b"\n", b"\r\n")


def mail(*parts: tuple[str, str, bytes], body: bytes = b"Kinh gui anh chi\r\n", epilogue: bytes = b"") -> bytes:
    """A multipart/mixed message: a text body, then (filename, transfer encoding, encoded body) parts."""
    out = (
        b"From: a@example.gov.vn\r\nTo: b@partner.gov.vn\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\n" + body
    )
    for name, cte, encoded in parts:
        out += (
            b"\r\n--BB\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: "
            + cte.encode()
            + b'\r\nContent-Disposition: attachment; filename="'
            + name.encode()
            + b'"\r\n\r\n'
            + encoded
        )
    return out + b"\r\n--BB--\r\n" + epilogue


def test_the_rest_of_the_message_is_everything_outside_the_attachments() -> None:
    def r(start: int, end: int) -> BodyRange:
        return BodyRange(start, end, "base64", "x", 0)

    assert rest_of_message(50, [r(30, 40), r(10, 20)]) == [(0, 10), (20, 30), (40, 50)]
    assert rest_of_message(40, [r(0, 10), r(10, 40)]) == []
    assert rest_of_message(5, []) == [(0, 5)]


def test_the_worker_says_where_each_attachment_lies_and_blocks_decode_it_exactly(tmp_path: Path) -> None:
    pdf, sheet = b"%PDF-1.7\n" + bytes(range(256)) * 900, "Bảng số liệu; ".encode() * 3000
    raw = mail(("a.pdf", "base64", b64(pdf)), ("b.csv", "quoted-printable", qp(sheet)))
    ranges = evaluate(raw, SENDER, RCPT, settings(tmp_path)).attachment_ranges
    assert ranges is not None and [(r.name, r.cte, r.size) for r in ranges] == [
        ("a.pdf", "base64", len(pdf)),
        ("b.csv", "quoted-printable", len(sheet)),
    ]
    for r, original in zip(ranges, (pdf, sheet), strict=True):
        decoder = PartDecoder(r.cte)
        encoded = raw[r.start : r.end]
        blocks = [decoder.feed(encoded[i : i + 1000]) for i in range(0, len(encoded), 1000)]
        assert b"".join(blocks) + decoder.feed(b"", final=True) == original


def test_a_message_the_worker_could_not_walk_whole_goes_to_clamd_raw(tmp_path: Path) -> None:
    parts = [(f"f{i}.bin", "base64", b64(b"x")) for i in range(MAX_CLAMD_STREAMS + 1)]
    assert evaluate(mail(*parts), SENDER, RCPT, settings(tmp_path)).attachment_ranges is None
    nested = b"From: a@b.vn\r\n" + b"".join(
        f"Content-Type: multipart/mixed; boundary=b{d}\r\n\r\n--b{d}\r\n".encode() for d in range(30)
    )
    assert evaluate(nested, SENDER, RCPT, settings(tmp_path)).attachment_ranges is None


def scan(stack: MailStack, tmp_path: Path, raw: bytes, stream_max: int = 25 * 2**20) -> AntivirusResult:
    ranges = evaluate(raw, SENDER, RCPT, settings(tmp_path)).attachment_ranges
    client = ClamdClient(f"127.0.0.1:{stack.ports.clamd}", timeout=20, stream_max=stream_max)
    return asyncio.run(scan_message(client, io.BytesIO(raw), len(raw), ranges))


@pytest.mark.stack
def test_eicar_is_found_wherever_the_message_carries_it(stack: MailStack, tmp_path: Path) -> None:
    filler = b"\x00\x01" * CHUNK  # puts EICAR across a block boundary of the decoded stream
    cases = {
        "base64 attachment": mail(("a.bin", "base64", b64(eicar()))),
        "quoted-printable attachment": mail(("a.txt", "quoted-printable", qp(eicar()))),
        "unencoded attachment": mail(("a.com", "7bit", eicar())),
        "across decoded blocks": mail(("a.bin", "base64", b64(filler[: CHUNK - 30] + eicar() + filler))),
        "second attachment": mail(("a.pdf", "base64", b64(b"%PDF-1.7\n")), ("b.bin", "base64", b64(eicar()))),
        "text body": mail(body=eicar() + b"\r\n"),
        "epilogue": mail(("a.pdf", "base64", b64(b"%PDF-1.7\n")), epilogue=eicar() + b"\r\n"),
    }
    for where, raw in cases.items():
        result = scan(stack, tmp_path, raw)
        assert (result.status, result.signature) == ("infected", CLAMD_EICAR_NAME), where
    clean = mail(("a.pdf", "base64", b64(b"%PDF-1.7\n" + filler)), ("b.csv", "quoted-printable", qp(b"1;2\r\n")))
    assert scan(stack, tmp_path, clean).status == "clean"


@pytest.mark.stack
def test_an_attachment_too_long_for_clamd_is_unscanned_by_name_and_the_rest_still_scanned(
    stack: MailStack, tmp_path: Path
) -> None:
    big = ("so-lieu.pdf", "base64", b64(b"%PDF-1.7\n" + b"\x07" * 2**20))
    result = scan(stack, tmp_path, mail(big), stream_max=2**20)
    assert result.status == "unscanned" and "so-lieu.pdf" in result.detail and "StreamMaxLength" in result.detail
    # The text beside it is scanned: a virus there is still a virus.
    result = scan(stack, tmp_path, mail(big, body=eicar() + b"\r\n"), stream_max=2**20)
    assert result.status == "infected"


def test_big_streams_take_turns_and_small_ones_do_not_wait_for_them() -> None:
    active: dict[str, int] = {"big": 0, "small": 0, "max_big": 0, "small_during_big": 0}

    async def fake_clamd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(len(b"zINSTREAM\0"))
        total = 0
        while length := int.from_bytes(await reader.readexactly(4), "big"):
            total += len(await reader.readexactly(length))
        kind = "big" if total >= 2**20 else "small"
        active[kind] += 1
        active["max_big"] = max(active["max_big"], active["big"])
        if kind == "small" and active["big"]:
            active["small_during_big"] += 1
        await asyncio.sleep(0.05 if kind == "big" else 0.001)
        active[kind] -= 1
        writer.write(b"stream: OK\0")
        await writer.drain()
        writer.close()

    async def main() -> list[str]:
        server = await asyncio.start_server(fake_clamd, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = ClamdClient(f"127.0.0.1:{port}", timeout=10, stream_max=8 * 2**20, max_big=1)
        try:
            scans = [client.scan_bytes(b"b" * 2 * 2**20) for _ in range(3)]
            scans += [client.scan_bytes(b"s" * 100) for _ in range(20)]
            return [r.status for r in await asyncio.gather(*scans)]
        finally:
            server.close()

    assert asyncio.run(main()) == ["clean"] * 23
    assert active["max_big"] == 1 and active["small_during_big"] > 0
