"""A deterministic, realistic corpus for the filter benchmark (the same bytes on every run).

Shares as measured on provincial mail: mostly short Vietnamese text mails, a quarter with
PDF/DOCX/XLSX attachments of 50 KB – 2 MB, some zips, a few of 5 – 25 MB, a few executables.
The documents are real ones (valid PDF, OOXML packages with text, sheets and pictures), so every
target and clamd parse them as they would parse a province's mail, not as damaged files.
"""

from __future__ import annotations

import io
import random
import unicodedata
import zipfile
from email import policy
from email.message import EmailMessage
from html import escape

from tests.samples.archive_builders import pdf_file  # the test suite's PDF writer

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


def _jpeg(rng: random.Random, size: int) -> bytes:
    """Bytes that look like a photo: a JPEG header and incompressible data (scanned pages, photos)."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(max(0, size - 13))


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            # Media are stored as Office does (already compressed); XML is deflated.
            zf.writestr(name, data, zipfile.ZIP_STORED if name.endswith(".jpeg") else zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _paragraphs(rng: random.Random, n: int) -> list[str]:
    return [escape(rng.choice(SENTENCES)) for _ in range(n)]


def docx(rng: random.Random, size: int) -> bytes:
    """A real WordprocessingML package: text paragraphs and a picture that brings it to ``size``."""
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in _paragraphs(rng, rng.randint(20, 120)))
    files = {
        "[Content_Types].xml": (
            b'<?xml version="1.0"?><Types><Default Extension="jpeg" ContentType="image/jpeg"/>'
            b'<Override PartName="/word/document.xml" ContentType="application/'
            b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "word/document.xml": f"<w:document><w:body>{body}</w:body></w:document>".encode(),
    }
    text_bytes = len(_zip(files))
    files["word/media/image1.jpeg"] = _jpeg(rng, size - text_bytes - 200)
    return _zip(files)


def xlsx(rng: random.Random, size: int) -> bytes:
    """A real SpreadsheetML package: a sheet of figures, its shared strings, and a chart picture."""
    strings = _paragraphs(rng, 30)
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="s"><v>{r % 30}</v></c>'
        + "".join(f'<c r="{col}{r}"><v>{rng.randint(0, 10**7)}</v></c>' for col in "BCDEF")
        + "</row>"
        for r in range(1, rng.randint(50, 400))
    )
    files = {
        "[Content_Types].xml": (
            b'<?xml version="1.0"?><Types><Override PartName="/xl/workbook.xml" ContentType="application/'
            b'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>'
        ),
        "xl/workbook.xml": b'<workbook><sheets><sheet name="Tong hop" sheetId="1"/></sheets></workbook>',
        "xl/sharedStrings.xml": ("<sst>" + "".join(f"<si><t>{t}</t></si>" for t in strings) + "</sst>").encode(),
        "xl/worksheets/sheet1.xml": f"<worksheet><sheetData>{rows}</sheetData></worksheet>".encode(),
    }
    files["xl/media/image1.jpeg"] = _jpeg(rng, size - len(_zip(files)) - 200)
    return _zip(files)


def pdf(rng: random.Random, size: int) -> bytes:
    """A real one-page PDF: a text stream and a scanned-page image (DCTDecode) that brings it to ``size``."""
    lines = " ".join(f"({_ascii(rng.choice(SENTENCES))}) Tj T*" for _ in range(rng.randint(10, 40)))
    content = f"BT /F1 11 Tf 14 TL 50 800 Td {lines} ET q 495 0 0 350 50 60 cm /Im1 Do Q".encode()
    image = _jpeg(rng, max(1000, size - len(content) - 1000))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Image /Width 1240 /Height 1754 /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n" % len(image) + image + b"\nendstream",
    ]
    return pdf_file(objects)


def _ascii(text: str) -> str:
    """Vietnamese without diacritics, parentheses escaped (a PDF string in a standard font)."""
    plain = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in plain if not unicodedata.combining(c)).replace("(", "\\(").replace(")", "\\)")


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
        ext, ctype, make = rng.choice(
            [
                ("pdf", "application/pdf", pdf),
                ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", docx),
                ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx),
            ]
        )
        data = make(rng, rng.randint(50_000, 2_000_000))
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=f"tai-lieu-{i}.{ext}")
    elif roll < 0.27:
        kind = "zip"
        files = {f"bao-cao-{k}.pdf": pdf(rng, rng.randint(20_000, 300_000)) for k in range(3)}
        msg.add_attachment(_zip(files), maintype="application", subtype="zip", filename=f"ho-so-{i}.zip")
    elif roll < 0.29:
        kind = "big"
        data = pdf(rng, rng.randint(5_000_000, 25_000_000))
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=f"so-lieu-{i}.pdf")
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
