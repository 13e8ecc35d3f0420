"""Coverage-guided fuzzing of the whole evaluation (MIME walk, archives, documents, every rule) with
atheris, from mutations of the sample messages and small hostile ones. Not part of the test suite:

    .venv/bin/pip install -e .[fuzz]
    .venv/bin/python tests/fuzz/fuzz_evaluate.py -runs=100000

A crash is any exception out of ``evaluate`` (it must turn every input into a verdict); a hang is an
input past ``-timeout`` seconds (10 by default here); memory is capped at ``-rss_limit_mb`` (512).
libFuzzer's own flags pass through; crash inputs are written to the working directory.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

with atheris.instrument_imports():
    from monitor.inspect.limits import Limits
    from monitor.inspect.pipeline import Settings, evaluate
    from rules.facts import Domains
    from rules.profile import load_profile

SETTINGS = Settings(
    domains=Domains(local=("example.gov.vn",), government=("gov.vn",)), profile=load_profile("dn-2022"), limits=Limits()
)
MAX_SEED = 64 * 1024


def seeds() -> list[bytes]:
    """The sample messages of the test suite, and small hostile ones (bombs, evasions, floods)."""
    from tests.samples.archive_builders import PE, zip_bytes
    from tests.samples.hostile_builders import (
        attachment,
        b64,
        deep_multipart,
        many_parts,
        message,
        nested_messages,
        stream_bomb,
        uu,
        with_part,
        zip_bomb,
    )

    found = [p.read_bytes() for p in sorted((REPO / "tests" / "samples").glob("*/*.eml"))]
    found += [
        attachment("a.zip", zip_bomb(12, "bzip2", 2**24)),
        attachment("a.gz", stream_bomb("gzip", 2**20)),
        message(b"x:\r\n" + uu("a.exe", PE) + b"end\r\n"),
        with_part(
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n",
            b64(PE),
        ),
        with_part(
            b'Content-Type: application/zip; name="a.zip"\r\nContent-Transfer-Encoding: x-uuencode\r\n',
            uu("a.zip", zip_bytes({"b.exe": PE})),
        ),
        many_parts(200),
        deep_multipart(30),
        nested_messages(25, encoded=True),
        message(b"<" * 4000, ctype=b"text/html"),
        message(b"x", b"Subject: =?utf-8?q?" + b"a" * 3000 + b"?=\r\n"),
    ]
    return [s for s in found if len(s) <= MAX_SEED]


def test_one_input(data: bytes) -> None:
    evaluation = evaluate(data, "doitac@partner.gov.vn", ("vanphong@example.gov.vn",), SETTINGS)
    if evaluation.verdict is None:  # every input is decided
        raise AssertionError("no verdict")


def main() -> None:
    corpus = Path(tempfile.mkdtemp(prefix="mailmon-fuzz-"))
    for i, seed in enumerate(seeds()):
        (corpus / f"seed-{i:03d}.eml").write_bytes(seed)
    flags = [a for a in sys.argv[1:] if a.startswith("-")]
    defaults = {"-timeout": "10", "-rss_limit_mb": "512", "-max_len": str(MAX_SEED)}
    for flag, value in defaults.items():
        if not any(a.startswith(flag + "=") for a in flags):
            flags.append(f"{flag}={value}")
    atheris.Setup([sys.argv[0], *flags, str(corpus)], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
