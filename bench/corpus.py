"""A deterministic, realistic corpus for the filter benchmark (the same bytes on every run).

Shares as measured on provincial mail: mostly short Vietnamese text mails, a quarter with
PDF/DOCX/XLSX attachments of 50 KB – 2 MB, some zips, a few of 5 – 25 MB, a few executables.
"""

from __future__ import annotations

import io
import random
import zipfile
from email import policy
from email.message import EmailMessage

POLICY = policy.default.clone(linesep="\r\n")
SENTENCES = [
    "Kính gửi các đồng chí lãnh đạo phòng, ban.",
    "Thực hiện Kế hoạch số 125/KH-UBND ngày 20/11/2026 của Ủy ban nhân dân tỉnh.",
    "Đề nghị các đơn vị báo cáo kết quả thực hiện trước ngày 15 tháng 12.",
    "Sở Thông tin và Truyền thông trân trọng thông báo lịch họp giao ban tuần.",
    "Tài liệu kèm theo gồm dự thảo quyết định và bảng tổng hợp số liệu.",
    "Trân trọng cảm ơn sự phối hợp của quý cơ quan.",
]
PE = b"MZ" + b"\x90" * 58 + (64).to_bytes(4, "little") + b"PE\x00\x00" + b"\x00" * 400


def _blob(rng: random.Random, size: int, head: bytes) -> bytes:
    # Compressible-ish content like real documents: repeated text with random noise.
    chunk = head + rng.randbytes(512) + ("nội dung văn bản " * 40).encode()
    return (chunk * (size // len(chunk) + 1))[:size]


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def message(i: int, rng: random.Random) -> tuple[str, bytes]:
    """(kind, raw bytes) of message number i."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = f"canbo{i % 200}.stttt@example.gov.vn"
    msg["To"] = f"phong{i % 37}.ubnd@partner.gov.vn"
    msg["Subject"] = f"V/v triển khai kế hoạch số {i}/KH-UBND"
    msg["Message-ID"] = f"<bench{i}@example.gov.vn>"
    msg.set_content("\n".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 30))) + "\n")
    roll = rng.random()
    kind = "text"
    if roll < 0.22:
        kind = "office"
        ext, ctype, head = rng.choice(
            [
                ("pdf", "application/pdf", b"%PDF-1.7\n"),
                ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04"),
                ("xlsx", "application/vnd.ms-excel", b"PK\x03\x04"),
            ]
        )
        data = _blob(rng, rng.randint(50_000, 2_000_000), head)
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=f"tai-lieu-{i}.{ext}")
    elif roll < 0.27:
        kind = "zip"
        files = {f"bao-cao-{k}.pdf": _blob(rng, rng.randint(20_000, 300_000), b"%PDF-1.7\n") for k in range(3)}
        msg.add_attachment(_zip(files), maintype="application", subtype="zip", filename=f"ho-so-{i}.zip")
    elif roll < 0.29:
        kind = "big"
        msg.add_attachment(
            _blob(rng, rng.randint(5_000_000, 25_000_000), b"%PDF-1.7\n"),
            maintype="application",
            subtype="pdf",
            filename=f"so-lieu-{i}.pdf",
        )
    elif roll < 0.30:
        kind = "exe"
        msg.add_attachment(PE, maintype="application", subtype="octet-stream", filename=f"cai-dat-{i}.exe")
    return kind, msg.as_bytes()


def corpus(n: int, seed: int = 2026) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    return [message(i, rng) for i in range(n)]


def text_messages(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        msg = EmailMessage(policy=POLICY)
        msg["From"] = "canbo.stttt@example.gov.vn"
        msg["To"] = "phong.ubnd@partner.gov.vn"
        msg["Subject"] = f"Giấy mời họp {i}"
        msg.set_content("\n".join(rng.choice(SENTENCES) for _ in range(8)) + "\n")
        out.append(msg.as_bytes())
    return out
