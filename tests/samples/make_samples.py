"""Write the rule samples under tests/samples/<rule-id>/ (run once; the outputs are committed).

Each sample is NAME.eml plus NAME.toml: the envelope, whether the rule must fire (`hit`), an
optional `detail` substring, the profile it runs under (`regulation`, default dn-2022: a rule only
runs where its profile has it) and optional `[profile]` overrides (the profile file's tables). Binary payloads are built here
so that the repository holds no real executable.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from email import policy
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).parent
POLICY = policy.default.clone(linesep="\r\n")

PE = b"MZ" + b"\x90" * 58 + (64).to_bytes(4, "little") + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 200
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 200
LNK = bytes.fromhex("4c0000000114020000000000c000000000000046") + b"\x00" * 60
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


DOCX = zip_bytes(
    {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
        "word/document.xml": "<w:document>Báo cáo</w:document>".encode(),
        "docProps/app.xml": b"<Properties/>",
    }
)
JAR = zip_bytes({"META-INF/MANIFEST.MF": b"Main-Class: A\n", "A.class": b"\xca\xfe\xba\xbe\x00\x00\x00\x34"})


def message(
    subject: str,
    *,
    sender: str = "hoant.stttt@example.gov.vn",
    to: str = "vanphong@example.gov.vn",
    body: str = "Kính gửi anh chị,\nĐề nghị xem tài liệu.\n",
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 16 Nov 2026 08:30:00 +0700"
    msg["Message-ID"] = f"<{zlib.crc32(subject.encode()):08x}@example.gov.vn>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, data, ctype in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def write(rule: str, name: str, msg: EmailMessage | bytes, meta: str) -> None:
    folder = HERE / rule
    folder.mkdir(exist_ok=True)
    raw = msg if isinstance(msg, bytes) else msg.as_bytes()
    (folder / f"{name}.eml").write_bytes(raw)
    (folder / f"{name}.toml").write_text(meta.strip() + "\n", encoding="utf-8")


def forwarding() -> None:
    r = "auto-forward-external"
    write(
        r,
        "sieve-redirect-to-gmail",
        message(
            "Giấy mời họp giao ban",
            sender="lanhdao@partner.gov.vn",
            to="hoant.stttt@example.gov.vn",
            headers={
                "X-Sieve": "Pigeonhole Sieve 0.5.19",
                "X-Sieve-Redirected-From": "hoant.stttt@example.gov.vn",
            },
        ),
        'mail_from = "lanhdao@partner.gov.vn"\nrcpt = ["someone@gmail.com"]\nhit = true\n'
        'detail = "hoant.stttt@example.gov.vn → someone@gmail.com"',
    )
    write(
        r,
        "gmail-forward-into-official",
        message(
            "Fwd tự động",
            sender="nguoi.dan@gmail.com",
            to="nguoi.dan@gmail.com",
            headers={
                "X-Forwarded-To": "vanphong@example.gov.vn",
                "X-Forwarded-For": "nguoi.dan@gmail.com vanphong@example.gov.vn",
            },
        ),
        'mail_from = "nguoi.dan@gmail.com"\nrcpt = ["vanphong@example.gov.vn"]\nhit = true\n'
        'detail = "nguoi.dan@gmail.com → vanphong@example.gov.vn"',
    )
    write(
        r,
        "exchange-inbox-rule-to-yahoo",
        message(
            "Kế hoạch năm 2027",
            sender="ketoan@partner.gov.vn",
            to="ketoan@partner.gov.vn",
            headers={
                "X-MS-Exchange-Inbox-Rules-Loop": "ketoan@partner.gov.vn",
                "X-MS-Exchange-Generated-Message-Source": "Mailbox Rules Agent",
            },
        ),
        'mail_from = "ketoan@partner.gov.vn"\nrcpt = ["ketoan.canhan@yahoo.com"]\nhit = true\n'
        'detail = "ketoan@partner.gov.vn → ketoan.canhan@yahoo.com"',
    )
    write(
        r,
        "auto-submitted-forwarded",
        message(
            "Công văn đến số 123",
            headers={"Auto-Submitted": "auto-forwarded", "Resent-From": "vanphong@example.gov.vn"},
        ),
        'mail_from = "vanphong@example.gov.vn"\nrcpt = ["vanphong.backup@outlook.com"]\nhit = true\n'
        'detail = "Auto-Submitted"',
    )
    write(
        r,
        "resent-block-to-hotmail",
        message(
            "Thông báo",
            headers={
                "Resent-From": "hoant.stttt@example.gov.vn",
                "Resent-To": "hoant@hotmail.com",
                "Resent-Date": "Mon, 16 Nov 2026 09:00:00 +0700",
            },
        ),
        'mail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["hoant@hotmail.com"]\n'
        'hit = true\ndetail = "Resent-"',
    )
    write(
        r,
        "redirect-between-government-domains",
        message(
            "Báo cáo tuần",
            headers={"X-Sieve-Redirected-From": "hoant.stttt@example.gov.vn"},
        ),
        'mail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["hoant@sotttt.hanoi.gov.vn"]\nhit = false',
    )
    write(
        r,
        "manual-fwd-to-gmail",
        message(
            "Fwd: Tài liệu hội nghị",
            body="---------- Forwarded message ---------\nFrom: a@partner.gov.vn\n",
        ),
        'mail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["someone@gmail.com"]\nhit = false',
    )
    write(
        r,
        "vacation-auto-reply",
        message(
            "Trả lời tự động: Vắng mặt",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        'mail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["someone@gmail.com"]\nhit = false',
    )
    write(
        r,
        "plain-inbound-from-gmail",
        message("Hỏi về thủ tục hành chính", sender="nguoi.dan@gmail.com"),
        'mail_from = "nguoi.dan@gmail.com"\nrcpt = ["vanphong@example.gov.vn"]\nhit = false',
    )


def executables() -> None:
    r = "executable-attachment"
    env = 'mail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["vanphong@example.gov.vn"]\n'
    write(
        r,
        "exe-with-vietnamese-rfc2231-name",
        message("Phần mềm kế toán", attachments=[("Cài đặt phần mềm.exe", PE, "application/octet-stream")]),
        env + 'hit = true\ndetail = "Cài đặt phần mềm.exe"',
    )
    write(
        r,
        "pe-disguised-as-pdf",
        message("Hoá đơn", attachments=[("Hoa-don-thang-11.pdf", PE, "application/pdf")]),
        env + 'hit = true\ndetail = "Windows PE executable"',
    )
    write(
        r,
        "double-extension",
        message("Hợp đồng", attachments=[("hop-dong.pdf.scr", b"not really", "application/octet-stream")]),
        env + 'hit = true\ndetail = "double extension .pdf.scr"',
    )
    write(
        r,
        "rtlo-name",
        message("Ảnh", attachments=[("anh\u202egpj.exe", b"xx", "application/octet-stream")]),
        env + 'hit = true\ndetail = "RTLO"',
    )
    write(
        r,
        "exe-inside-zip",
        message(
            "Tài liệu nén",
            attachments=[
                ("tai-lieu.zip", zip_bytes({"doc/bao-cao.pdf": PDF, "doc/setup.exe": PE}), "application/zip")
            ],
        ),
        env + 'hit = true\ndetail = "tai-lieu.zip → doc/setup.exe"',
    )
    write(
        r,
        "elf-named-docx",
        message(
            "Văn bản",
            attachments=[
                (
                    "van-ban.docx",
                    ELF,
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                )
            ],
        ),
        env + 'hit = true\ndetail = "ELF"',
    )
    write(
        r,
        "windows-shortcut",
        message("Lối tắt", attachments=[("thu-muc.lnk", LNK, "application/octet-stream")]),
        env + 'hit = true\ndetail = "thu-muc.lnk"',
    )
    write(
        r,
        "java-archive-named-zip",
        message("Công cụ", attachments=[("cong-cu.zip", JAR, "application/zip")]),
        env + 'hit = true\ndetail = "Java archive"',
    )
    write(
        r,
        "shell-script-named-txt",
        message("Ghi chú", attachments=[("ghi-chu.txt", b"#!/bin/sh\nrm -rf ~\n", "text/plain")]),
        env + 'hit = true\ndetail = "script"',
    )
    write(
        r,
        "docx-is-not-an-archive-of-executables",
        message(
            "Báo cáo quý",
            attachments=[
                (
                    "Báo cáo quý IV.docx",
                    DOCX,
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                )
            ],
        ),
        env + "hit = false",
    )
    write(
        r,
        "pdf-and-zip-of-documents",
        message(
            "Hồ sơ",
            attachments=[
                ("ho-so.pdf", PDF, "application/pdf"),
                ("ho-so.zip", zip_bytes({"a.pdf": PDF, "b.docx": DOCX}), "application/zip"),
            ],
        ),
        env + "hit = false",
    )
    write(
        r,
        "exe-named-in-body-text-only",
        message("Hướng dẫn", body="Tải setup.exe từ trang nội bộ, không gửi qua thư.\n"),
        env + "hit = false",
    )


def sizes() -> None:
    r = "attachment-too-large"
    env = 'mail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["vanphong@example.gov.vn"]\n'
    write(
        r,
        "over-the-limit",
        message(
            "Ảnh hội nghị",
            attachments=[
                ("anh-1.jpg", b"\xff\xd8\xff" + b"\x01" * 700, "image/jpeg"),
                ("anh-2.jpg", b"\xff\xd8\xff" + b"\x02" * 400, "image/jpeg"),
            ],
        ),
        env + 'hit = true\ndetail = "1,106"\n\n[profile.rules.attachment-too-large]\nmax_bytes = 1000',
    )
    write(
        r,
        "exactly-at-the-limit",
        message("Ảnh hội nghị", attachments=[("anh-1.jpg", b"\xff\xd8\xff" + b"\x01" * 997, "image/jpeg")]),
        env + "hit = false\n\n[profile.rules.attachment-too-large]\nmax_bytes = 1000",
    )


def inspection_limits() -> None:
    r = "inspection-limit"
    env = 'mail_from = "nguoi.la@example.com"\nrcpt = ["vanphong@example.gov.vn"]\n'
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\nphần {i}\r\n" for i in range(1100))
    raw = (
        "From: nguoi.la@example.com\r\nTo: vanphong@example.gov.vn\r\nSubject: nhiều phần\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + "--b--\r\n"
    ).encode()
    write(r, "eleven-hundred-parts", raw, env + 'hit = true\ndetail = "more than 1000 MIME parts"')
    write(
        r,
        "ordinary-message",
        message("Lịch công tác tuần", sender="nguoi.la@example.com"),
        env + "hit = false",
    )


def encrypted_archives() -> None:
    from archive_builders import mark_encrypted, rar5_bytes, sevenzip_bytes, tar_bytes

    r = "encrypted-archive"
    env = 'mail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["vanphong@example.gov.vn"]\n'
    files = {"bao-cao.pdf": PDF, "phu-luc.docx": DOCX}
    write(
        r,
        "zipcrypto-zip",
        message("Hồ sơ mật khẩu", attachments=[("ho-so.zip", mark_encrypted(zip_bytes(files)), "application/zip")]),
        env + 'hit = true\ndetail = "ho-so.zip (zip)"',
    )
    write(
        r,
        "aes-zip",
        message("Hồ sơ AES", attachments=[("ho-so-aes.zip", mark_encrypted(zip_bytes(files), aes=True), "application/zip")]),
        env + 'hit = true\ndetail = "bao-cao.pdf"',
    )
    write(
        r,
        "7z-encrypted-data-names-visible",
        message("Số liệu", attachments=[("so-lieu.7z", sevenzip_bytes(files, "matkhau"), "application/x-7z-compressed")]),
        env + 'hit = true\ndetail = "so-lieu.7z (7z): tệp mã hoá / encrypted: bao-cao.pdf"',
    )
    write(
        r,
        "7z-encrypted-headers",
        message(
            "Số liệu",
            attachments=[("so-lieu.7z", sevenzip_bytes(files, "matkhau", header_encryption=True), "application/x-7z-compressed")],
        ),
        env + 'hit = true\ndetail = "member names are encrypted"',
    )
    write(
        r,
        "rar5-encrypted",
        message("Tài liệu", attachments=[("tai-lieu.rar", rar5_bytes(files, encrypted=True), "application/vnd.rar")]),
        env + 'hit = true\ndetail = "tai-lieu.rar (rar)"',
    )
    write(
        r,
        "encrypted-zip-inside-tar",
        message(
            "Sao lưu",
            attachments=[("sao-luu.tar", tar_bytes({"ho-so.zip": mark_encrypted(zip_bytes(files))}), "application/x-tar")],
        ),
        env + 'hit = true\ndetail = "sao-luu.tar (tar)"',
    )
    write(
        r,
        "plain-zip",
        message("Hồ sơ", attachments=[("ho-so.zip", zip_bytes(files), "application/zip")]),
        env + "hit = false",
    )
    write(
        r,
        "plain-7z",
        message("Số liệu", attachments=[("so-lieu.7z", sevenzip_bytes(files), "application/x-7z-compressed")]),
        env + "hit = false",
    )


def office_macros() -> None:
    from archive_builders import docx_bytes, ole_bytes

    r = "office-macro"
    env = 'mail_from = "nguoi.la@example.com"\nrcpt = ["vanphong@example.gov.vn"]\n'
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    write(
        r,
        "docm-by-name-and-content",
        message("Biểu mẫu", attachments=[("bieu-mau.docm", docx_bytes("Biểu mẫu", macro=True), docx_type)]),
        env + 'hit = true\ndetail = "bieu-mau.docm (ooxml)"',
    )
    write(
        r,
        "vba-project-in-docx-named-docx",
        message("Công văn", attachments=[("cong-van.docx", docx_bytes("Công văn", macro=True), docx_type)]),
        env + 'hit = true\ndetail = "cong-van.docx"',
    )
    write(
        r,
        "ole-doc-with-macros-storage",
        message("Hóa đơn", attachments=[("hoa-don.doc", ole_bytes(["Macros", "VBA"]), "application/msword")]),
        env + 'hit = true\ndetail = "hoa-don.doc (ole)"',
    )
    write(
        r,
        "xlsm-inside-zip",
        message(
            "Bảng tính",
            attachments=[("bang-tinh.zip", zip_bytes({"so-lieu.xlsm": docx_bytes("x", macro=True)}), "application/zip")],
        ),
        env + 'hit = true\ndetail = "bang-tinh.zip"',
    )
    write(
        r,
        "plain-docx",
        message("Báo cáo", attachments=[("bao-cao.docx", docx_bytes("Báo cáo", signed=True), docx_type)]),
        env + "hit = false",
    )
    write(
        r,
        "ole-doc-without-macros",
        message("Hóa đơn", attachments=[("hoa-don.doc", ole_bytes(["WordDocument"]), "application/msword")]),
        env + "hit = false",
    )


def hostile_archives() -> None:
    from archive_builders import gzip_bomb, nested_zip_bomb, overlapping_zip_bomb, sevenzip_bytes

    r = "inspection-limit"
    env = 'mail_from = "nguoi.la@example.com"\nrcpt = ["vanphong@example.gov.vn"]\n'
    write(
        r,
        "nested-zip-bomb",
        message("42", sender="nguoi.la@example.com", attachments=[("42.zip", nested_zip_bomb(), "application/zip")]),
        env + 'hit = true\ndetail = "more than 1000 archive members"',
    )
    write(
        r,
        "overlapping-zip-bomb",
        message("ov", sender="nguoi.la@example.com", attachments=[("ov.zip", overlapping_zip_bomb(), "application/zip")]),
        env + 'hit = true\ndetail = "zip entries overlap"',
    )
    write(
        r,
        "gzip-bomb",
        message("gz", sender="nguoi.la@example.com", attachments=[("zeros.gz", gzip_bomb(2**26), "application/gzip")]),
        env + 'hit = true\ndetail = "gzip stream expands more than 100×"',
    )
    seven = sevenzip_bytes({"bao-cao.pdf": PDF, "setup.exe": PE})
    write(
        r,
        "truncated-7z",
        message("7z", sender="nguoi.la@example.com", attachments=[("cut.7z", seven[: len(seven) // 2], "application/x-7z-compressed")]),
        env + 'hit = true\ndetail = "cut.7z: cannot inspect"',
    )


def stamped_docx(paragraphs: list[str]) -> bytes:
    """A minimal DOCX: [Content_Types].xml and word/document.xml, one <w:p> per paragraph."""
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    return zip_bytes(
        {
            "[Content_Types].xml": (
                b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                b'officedocument.wordprocessingml.document.main+xml"/></Types>'
            ),
            "word/document.xml": f'<?xml version="1.0"?><w:document {ns}><w:body>{body}</w:body></w:document>'.encode(),
        }
    )


def classified() -> None:
    from archive_builders import odt_bytes, pdf_bytes

    r = "classified-content"
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    env = 'mail_from = "lanhdao@partner.gov.vn"\nrcpt = ["vanphong@example.gov.vn"]\n'
    sender = "lanhdao@partner.gov.vn"
    write(r, "subject-bracket-mat", message("[MẬT] Báo cáo tình hình an ninh quý IV", sender=sender),
          env + 'hit = true\ndetail = "tiêu đề / subject: MẬT"')
    write(r, "subject-toi-mat-head", message("TỐI MẬT - Kế hoạch bảo vệ", sender=sender),
          env + 'hit = true\ndetail = "tiêu đề / subject: TỐI MẬT"')
    write(r, "subject-just-mat", message("Mật", sender=sender), env + 'hit = true\ndetail = "tiêu đề / subject: MẬT"')
    write(
        r,
        "stamp-line-in-body",
        message("Kế hoạch số 12", sender=sender, body="UBND TỈNH ĐẮK NÔNG\n\nTỐI MẬT\n\nKế hoạch triển khai.\n"),
        env + 'hit = true\ndetail = "nội dung / body: TỐI MẬT"',
    )
    write(
        r,
        "label-in-body",
        message("Công văn đến", sender=sender, body="Số: 45/CV-UBND\nĐộ mật: Tuyệt mật\nKính gửi …\n"),
        env + 'hit = true\ndetail = "nội dung / body: TUYỆT MẬT"',
    )
    write(
        r,
        "stamp-in-docx",
        message(
            "Tài liệu họp",
            sender=sender,
            attachments=[
                ("ke-hoach.docx", stamped_docx(["UBND TỈNH ĐẮK NÔNG", "TỐI MẬT", "KẾ HOẠCH", "Nội dung …"]), docx_type)
            ],
        ),
        env + 'hit = true\ndetail = "tệp / file ke-hoach.docx: TỐI MẬT"',
    )
    write(
        r,
        "stamp-in-odt",
        message("Phương án", sender=sender,
                attachments=[("phuong-an.odt", odt_bytes("TUYỆT MẬT"), "application/vnd.oasis.opendocument.text")]),
        env + 'hit = true\ndetail = "tệp / file phuong-an.odt: TUYỆT MẬT"',
    )
    write(
        r,
        "stamp-in-pdf",
        message("Báo cáo", sender=sender, attachments=[("bao-cao.pdf", pdf_bytes("MẬT"), "application/pdf")]),
        env + 'hit = true\ndetail = "tệp / file bao-cao.pdf: MẬT"',
    )
    write(
        r,
        "ascii-file-name",
        message("Gửi tài liệu", sender=sender, attachments=[("TOI-MAT_bao-cao.docx", DOCX, docx_type)]),
        env + 'hit = true\ndetail = "tên tệp / file name TOI-MAT_bao-cao.docx: TỐI MẬT"',
    )
    write(
        r,
        "file-name-inside-zip",
        message("Hồ sơ", sender=sender,
                attachments=[("ho-so.zip", zip_bytes({"ho-so/tuyet_mat.pdf": PDF}), "application/zip")]),
        env + 'hit = true\ndetail = "ho-so.zip → ho-so/tuyet_mat.pdf: TUYỆT MẬT"',
    )
    write(
        r,
        "password-and-security-prose",
        message(
            "Thay đổi mật khẩu và bảo mật thông tin",
            sender=sender,
            body="Đề nghị giữ bí mật nhà nước, đổi mật khẩu 3 tháng một lần.\nNgười liên hệ: Nguyễn Văn Mật.\n"
            "Mật ong Đắk Nông, thân mật gửi anh chị; quan hệ mật thiết.\n",
        ),
        env + "hit = false",
    )
    write(r, "meeting-on-state-secrets", message("Thư mời họp về công tác bảo vệ bí mật nhà nước", sender=sender),
          env + "hit = false")
    write(
        r,
        "training-docx-lists-the-levels",
        message(
            "Tài liệu tập huấn",
            sender=sender,
            attachments=[
                (
                    "tap-huan-bao-mat.docx",
                    stamped_docx(["Bí mật nhà nước gồm ba độ mật:", "- Tuyệt mật", "- Tối mật", "- Mật",
                                  "Không gửi tài liệu mật qua thư điện tử."]),
                    docx_type,
                )
            ],
        ),
        env + "hit = false",
    )
    write(
        r,
        "floor-plan-and-password-file-names",
        message(
            "Hồ sơ thiết kế",
            sender=sender,
            attachments=[
                ("mat-bang-tang-1.pdf", PDF, "application/pdf"),
                ("MAT_BANG_TONG_THE.pdf", PDF, "application/pdf"),
                ("mat-khau-wifi.txt", b"wifi: Abc@12345\n", "text/plain"),
            ],
        ),
        env + "hit = false",
    )


def registration() -> None:
    r = "service-registration"

    def env(sender: str, rcpt: str = "vanphong@example.gov.vn") -> str:
        return f'mail_from = "{sender}"\nrcpt = ["{rcpt}"]\n'

    fb = "registration@facebookmail.com"
    write(
        r,
        "facebook-confirm-vi",
        message("Xác nhận tài khoản Facebook của bạn", sender=f"Facebook <{fb}>",
                body="Mã xác nhận của bạn là 482913.\n"),
        env(fb) + 'hit = true\ndetail = "vanphong@example.gov.vn đăng ký / registered at Facebook (facebookmail.com)"',
    )
    write(
        r,
        "shopee-verify-en",
        message("Verify your account", sender="Shopee <no-reply@mail.shopee.vn>",
                body="Your verification code is 1234.\n"),
        env("no-reply@mail.shopee.vn") + 'hit = true\ndetail = "registered at Shopee (shopee.vn)"',
    )
    write(
        r,
        "tiktok-code-from-header-only",
        message("123456 là mã xác minh của bạn", sender="TikTok <no-reply@account.tiktok.com>",
                to="ketoan@example.gov.vn"),
        env("bounce-8f2a@bounce.esp-mailer.example", "ketoan@example.gov.vn")
        + 'hit = true\ndetail = "ketoan@example.gov.vn đăng ký / registered at TikTok (tiktok.com)"',
    )
    write(
        r,
        "linkedin-body-wording",
        message("Hi Van Phong", sender="LinkedIn <security-noreply@linkedin.com>",
                body="Please confirm your email address to finish signing up.\n"),
        env("security-noreply@linkedin.com") + 'hit = true\ndetail = "LinkedIn (linkedin.com)"',
    )
    write(
        r,
        "facebook-notification",
        message("Bạn có 3 thông báo mới", sender="Facebook <notification@facebookmail.com>",
                body="Xem các thông báo.\n"),
        env("notification@facebookmail.com") + "hit = false",
    )
    write(
        r,
        "shopee-order-with-otp-warning",
        message("Đơn hàng #2611160001 đã được giao", sender="Shopee <info@mail.shopee.vn>",
                body="Cảm ơn bạn đã mua sắm.\nShopee không bao giờ yêu cầu mã OTP của bạn qua điện thoại.\n"),
        env("info@mail.shopee.vn") + "hit = false",
    )
    write(
        r,
        "signup-to-a-personal-mailbox",
        message("Confirm your email", sender=f"Facebook <{fb}>", to="canhan@gmail.com"),
        env(fb, "canhan@gmail.com") + "hit = false",
    )
    write(
        r,
        "government-portal-account",
        message("Xác nhận tài khoản dịch vụ công", sender="no-reply@dichvucong.gov.vn", body="Mã xác nhận: 5555\n"),
        env("no-reply@dichvucong.gov.vn") + "hit = false",
    )


def public_providers() -> None:
    """Official work exchanged with free-mail mailboxes: a rule of BDi-2017 Đ11.4 and BD-2005 Đ11."""
    r = "public-provider-mailbox"
    bdi = 'regulation = "bdi-2017"\n'
    write(
        r,
        "report-sent-to-own-gmail",
        message("Báo cáo tuần", sender="hoant.stttt@example.gov.vn", to="hoa.nguyen@gmail.com"),
        bdi + 'mail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["hoa.nguyen@gmail.com"]\nhit = true\n'
        'detail = "hoa.nguyen@gmail.com (gmail.com)"',
    )
    write(
        r,
        "work-from-yahoo-vn",
        message("Gửi lại tài liệu", sender="hoant1980@yahoo.com.vn", to="vanphong@example.gov.vn"),
        'regulation = "bd-2005"\nmail_from = "hoant1980@yahoo.com.vn"\nrcpt = ["vanphong@example.gov.vn"]\n'
        'hit = true\ndetail = "(yahoo.com.vn)"',
    )
    write(
        r,
        "official-to-official",
        message("Công văn", sender="hoant.stttt@example.gov.vn", to="vanthu@partner.gov.vn"),
        bdi + 'mail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["vanthu@partner.gov.vn"]\nhit = false',
    )
    write(
        r,
        "lookalike-domain",
        message("Hóa đơn", sender="billing@gmail.com.example.net", to="vanphong@example.gov.vn"),
        bdi + 'mail_from = "billing@gmail.com.example.net"\nrcpt = ["vanphong@example.gov.vn"]\nhit = false',
    )
    write(
        r,
        "not-this-regulation",
        message("Báo cáo tuần", sender="hoant.stttt@example.gov.vn", to="hoa.nguyen@gmail.com"),
        'regulation = "dn-2022"\nmail_from = "hoant.stttt@example.gov.vn"\nrcpt = ["hoa.nguyen@gmail.com"]\n'
        "hit = false",
    )


if __name__ == "__main__":
    forwarding()
    executables()
    sizes()
    inspection_limits()
    encrypted_archives()
    office_macros()
    hostile_archives()
    classified()
    registration()
    public_providers()
