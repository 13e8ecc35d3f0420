"""Hostile messages, inspected: a bomb of every codec stops at its cap, every evasion is seen, and
the patterns that meet attacker text match exactly what their backtracking forms matched.

Costs (CPU, RSS, stalls) are measured by bench/hostile, never asserted here; memory here is only
the deterministic count of what Python allocated (tracemalloc), against the configured cap.
"""

from __future__ import annotations

import gzip
import re
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.inspect.headers import decode_value, text_codec
from monitor.inspect.limits import Limits
from monitor.inspect.mime import parse_message
from monitor.inspect.pipeline import Evaluation, Settings, evaluate
from monitor.inspect.streams import chunks, read_capped
from monitor.inspect.text import strip_tags, strip_xml_tags
from monitor.inspect.transfer_encoding import decode, uu_blocks, uu_size
from rules import content
from rules.facts import Domains, header_addresses
from rules.profile import load_profile
from tests.samples.archive_builders import PE, tar_bytes, zip_bytes
from tests.samples.hostile_builders import (
    RCPT,
    SENDER,
    attachment,
    b64,
    deflate_zip_bomb,
    message,
    nested_messages,
    pdf_with_form,
    pdf_with_page,
    sevenzip_bomb,
    sevenzip_deflate,
    stream_bomb,
    tar_gz_bomb,
    uu,
    with_part,
    zip_bomb,
)

# Small budgets, so that bombs of 64 MiB are far past them and build in a moment.
LIMITS = Limits(max_expanded_bytes=4 * 2**20, max_decode_bytes=4 * 2**20)
SETTINGS = Settings(
    domains=Domains(local=("example.gov.vn",), government=("gov.vn",)), profile=load_profile("dn-2022"), limits=LIMITS
)
BOMB = 64 * 2**20


def run(raw: bytes) -> Evaluation:
    return evaluate(raw, SENDER, (RCPT,), SETTINGS)


def rules_of(evaluation: Evaluation) -> set[str]:
    return {f.rule for f in evaluation.findings}


BOMBS = {
    "zip-deflate": lambda: attachment("a.zip", deflate_zip_bomb(2**30)),
    "zip-deflate64": lambda: attachment("a.zip", zip_bomb(9, "deflate64", BOMB)),
    "zip-bzip2": lambda: attachment("a.zip", zip_bomb(12, "bzip2", BOMB)),
    "zip-lzma": lambda: attachment("a.zip", zip_bomb(14, "lzma-raw", BOMB)),
    "zip-xz": lambda: attachment("a.zip", zip_bomb(95, "xz", BOMB)),
    "zip-zstd": lambda: attachment("a.zip", zip_bomb(93, "zstd", BOMB)),
    "gzip-second-member": lambda: attachment("a.gz", stream_bomb("gzip", BOMB)),
    "bzip2": lambda: attachment("a.bz2", stream_bomb("bzip2", BOMB)),
    "xz": lambda: attachment("a.xz", stream_bomb("xz", BOMB)),
    "tar-gz": lambda: attachment("a.tgz", tar_gz_bomb(BOMB)),
    "7z-lzma2": lambda: attachment("a.7z", sevenzip_bomb(BOMB)),
    "7z-deflate": lambda: attachment("a.7z", sevenzip_deflate()),
}


@pytest.mark.parametrize("codec", sorted(BOMBS))
def test_a_bomb_of_every_codec_is_decided_without_allocating_past_the_budget(codec: str) -> None:
    raw = BOMBS[codec]()
    tracemalloc.start()
    try:
        evaluation = run(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rules_of(evaluation) == {"inspection-limit"}
    assert evaluation.verdict.action.name == "QUARANTINE"
    # The message, its decoded attachment, at most the expanded-bytes budget (twice: the read and
    # the bytes handed on) and py7zr's fixed 16 MiB read buffer; never the 64 MiB or 1 GiB the bomb holds.
    assert peak < 3 * len(raw) + 3 * LIMITS.max_expanded_bytes + 20 * 2**20


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_a_capped_stream_never_yields_more_than_asked(kind: str) -> None:
    data = stream_bomb(kind, BOMB)
    out, more = read_capped(chunks(kind, data, multi=True), 12345)
    assert len(out) == 12345 and more


def test_every_gzip_member_is_read() -> None:
    """gzip -c a b > ab.gz: a member after the first is part of the file (gzip, browsers, clients)."""
    hidden = tar_bytes({"setup.exe": PE})
    data = gzip.compress(b"harmless\n" * 10) + gzip.compress(hidden)
    out = b"".join(chunks("gzip", data, multi=True))
    assert out.endswith(hidden)
    evaluation = run(attachment("a.gz", gzip.compress(hidden) + gzip.compress(b"x")))
    assert "executable-attachment" in rules_of(evaluation)


def test_bzip2_and_lzma_zip_members_are_read_within_the_cap() -> None:
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        evaluation = run(attachment("a.zip", zip_bytes({"inner.zip": zip_bytes({"run.exe": PE})}, method)))
        assert "executable-attachment" in rules_of(evaluation), method


def test_nested_messages_are_read_in_place_and_stop_at_the_depth_limit() -> None:
    assert "inspection-limit" in rules_of(run(nested_messages(30, encoded=False)))
    assert "inspection-limit" in rules_of(run(nested_messages(30, encoded=True)))
    shallow = nested_messages(3, encoded=False)
    assert rules_of(run(shallow)) == set()


EVASIONS = {
    "x-uuencode part": with_part(
        b'Content-Type: application/octet-stream; name="hoa-don.zip"\r\nContent-Transfer-Encoding: x-uuencode\r\n',
        uu("hoa-don.zip", zip_bytes({"hoa-don.pdf.exe": PE})),
    ),
    "uuencoded block in a text body": message(b"file cai dat:\r\n\r\n" + uu("setup.exe", PE) + b"\r\ncam on\r\n"),
    "uuencoded zip in a base64 text body": message(
        b64(b"xem:\r\n" + uu("a.zip", zip_bytes({"a.exe": PE}))), b"Content-Transfer-Encoding: base64\r\n"
    ),
    "7bit then base64": with_part(
        b'Content-Type: application/octet-stream; name="hoa-don.pdf"\r\n'
        b"Content-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n",
        b64(PE),
    ),
    "text/plain then an exe type": with_part(
        b'Content-Type: text/plain\r\nContent-Type: application/x-msdownload; name="setup.exe"\r\n', b"MZ"
    ),
    "inline then attachment": with_part(
        b"Content-Type: text/plain\r\nContent-Disposition: inline\r\n"
        b'Content-Disposition: attachment; filename="setup.exe"\r\n',
        b"text",
    ),
    "name= disagrees with filename=": with_part(
        b'Content-Type: application/octet-stream; name="setup.exe"\r\n'
        b'Content-Disposition: attachment; filename="hoa-don.pdf"\r\n',
        b"%PDF-1.4",
    ),
    "unknown transfer encoding": with_part(
        b'Content-Type: application/octet-stream; name="a.dat"\r\nContent-Transfer-Encoding: x-base64\r\n', b64(PE)
    ),
    "text part without a name, PE bytes": with_part(
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n", b64(PE)
    ),
}


@pytest.mark.parametrize("evasion", sorted(EVASIONS))
def test_every_evasion_is_seen(evasion: str) -> None:
    evaluation = run(EVASIONS[evasion])
    assert "executable-attachment" in rules_of(evaluation)
    assert evaluation.verdict.action.name == "REJECT"


def test_conflicts_are_recorded_and_sizes_count_a_part_once() -> None:
    parsed = parse_message(EVASIONS["7bit then base64"], LIMITS)
    assert any("conflicting Content-Transfer-Encoding" in p for p in parsed.problems)
    first, second = parsed.attachments[0], parsed.attachments[1]
    assert first.reading == "" and first.true_type is None
    assert second.reading.startswith("Content-Transfer-Encoding: base64") and second.true_type == "pe"
    assert "[Content-Transfer-Encoding: base64" in second.display_name
    unknown = parse_message(EVASIONS["unknown transfer encoding"], LIMITS)
    assert any("unknown Content-Transfer-Encoding 'x-base64'" in p for p in unknown.problems)


def test_uuencode_is_decoded_as_uudecode_does() -> None:
    data = bytes(range(256)) * 7 + b"tail"
    block = uu("x.bin", data)
    assert decode(block, 0, len(block), "x-uuencode", 10**6) == data
    assert uu_size(block, 0, len(block)) == len(data)
    text = b"before\r\n" + block + b"between\r\n" + uu("y.bin", b"second") + b"after\r\n"
    files, more = uu_blocks(text, 0, len(text), 10**6, 16)
    assert files == [("x.bin", data), ("y.bin", b"second")] and not more


def test_a_mime_field_past_its_bounds_is_a_limit_not_a_parse() -> None:
    evaluation = run(message(b"x", ctype=b"text/plain" + b";" * 60_000))
    assert rules_of(evaluation) == {"inspection-limit"}
    assert "Content-Type header of 60011 bytes (over 8192); not parsed" in evaluation.findings[0].detail
    evaluation = run(message(b"x", ctype=b"text/plain" + b";" * 65))
    assert "Content-Type header with more than 64 parameters" in evaluation.findings[0].detail


def test_header_values_are_decoded_linearly_and_strange_charsets_are_refused() -> None:
    assert decode_value(b"=?utf-8?q?T=E1=BB=91i_m=E1=BA=ADt?= =?utf-8?b?IGvhur8=?=") == "Tối mật kế"
    assert decode_value(b"Tr\xe1\xba\xa3 l\xe1\xbb\x9di\r\n thu") == "Trả lời thu"
    assert text_codec("punycode") == "utf-8" and text_codec("idna") == "utf-8"
    assert text_codec("windows-1258") == "cp1258"
    assert header_addresses('"a@evil.example" <real@partner.gov.vn>, b@x.vn') == ["real@partner.gov.vn"]
    assert header_addresses("b@x.vn, (c@y.vn)") == ["b@x.vn", "c@y.vn"]


def test_a_pdf_page_past_its_content_bound_is_a_problem_not_a_hang() -> None:
    operators = b"BT /F1 12 Tf 10 10 Td (x) Tj ET\n"
    big = run(attachment("a.pdf", pdf_with_page(operators * 20_000, True)))
    assert any("over 131072 bytes of content" in p for a in big.attachments for p in a.problems)
    form = run(attachment("b.pdf", pdf_with_form(operators * 20_000, 100)))
    assert any("over 131072 bytes of content" in p for a in form.attachments for p in a.problems)
    small = run(attachment("c.pdf", pdf_with_page(operators * 10, True)))
    assert "x" in small.attachments[0].text


# --- linear patterns match what the backtracking ones matched --------------------------------------

_OLD_SEGMENT = re.compile(r"\s*[:;|–—]\s*|\s+-+\s*|\s*-+\s+|\s+/\s+")
_OLD_CELL = re.compile(r"\t+|\s{2,}|\s+\|\s+")
_OLD_REPLY = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|sv|vs|tl|tr|trả lời|chuyển tiếp)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE
)
_OLD_TAG = re.compile(r"<[^>]*>")
_TEXT = st.text(alphabet=" \t-:;|/–—<>[]0123abRrEeFfWw\n", max_size=40)


@given(_TEXT)
@settings(max_examples=400, deadline=None)
def test_linear_patterns_split_as_before(text: str) -> None:
    assert [content.words(s) for s in content.segments(text)] == [content.words(s) for s in _OLD_SEGMENT.split(text)]
    assert content._CELL_SPLIT.split(text) == _OLD_CELL.split(text)
    assert content._REPLY_PREFIX.sub("", text) == _OLD_REPLY.sub("", text)
    assert strip_tags(text) == _OLD_TAG.sub(" ", text)
    assert strip_xml_tags(text.encode()) == _OLD_TAG.sub("", text).encode()


def test_long_runs_of_combining_marks_are_cut_to_the_stream_safe_bound() -> None:
    text = "a" + "\u0316\u0300" * 100 + " TỐI MẬT"
    safe = content.stream_safe(text)
    assert max(len(run) for run in re.findall("[\u0300-\u034e\u0350-\u036f]+", safe)) <= 30
    assert content.nfc(text).endswith("TỐI MẬT")
    assert content.stream_safe("TỐI MẬT") == "TỐI MẬT"


# Inputs that once made evaluation raise (tests/fuzz/regressions), and the problem each now records.
FUZZ_REGRESSIONS = {"content-disposition-indexerror.eml": "unparsable Content-Disposition"}


@pytest.mark.parametrize("name", sorted(FUZZ_REGRESSIONS))
def test_inputs_the_fuzzer_broke_are_decided(name: str) -> None:
    path = Path(__file__).resolve().parents[1] / "fuzz" / "regressions" / name
    evaluation = run(path.read_bytes())
    assert any(FUZZ_REGRESSIONS[name] in p for p in evaluation.problems)
