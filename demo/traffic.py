"""The sample messages the demo sends, each with what an administrator should expect."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

from mailstack import eicar
from tests.samples.archive_builders import sevenzip_bytes
from tests.samples.make_samples import PE

POLICY = policy.default.clone(linesep="\r\n")
DOMAIN = "example.gov.vn"
HOANT = f"hoant.stttt@{DOMAIN}"
VANPHONG = f"vanphong@{DOMAIN}"
PARTNER = "lanhdao@partner.gov.vn"
KETOAN = f"ketoan@{DOMAIN}"  # has a Sieve rule forwarding everything to gmail.com


@dataclass(frozen=True)
class Sample:
    token: str
    label: str
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    expect: str


def _message(token: str, subject: str, sender: str, to: str, body: str) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{token}@demo.{DOMAIN}>"
    msg.set_content(body)
    return msg


def samples() -> list[Sample]:
    clean = _message(
        "demo-clean",
        "Giấy mời họp giao ban tuần",
        PARTNER,
        VANPHONG,
        "Kính gửi Văn phòng,\nTrân trọng kính mời dự họp giao ban lúc 8h00 thứ Hai.\n",
    )
    clean.add_attachment(
        b"%PDF-1.7\n" + b"giay moi " * 2000, maintype="application", subtype="pdf", filename="Giấy mời.pdf"
    )
    redirected = _message(
        "demo-redirect",
        "Công văn đến số 125/UBND",
        PARTNER,
        KETOAN,
        "Công văn gửi phòng Kế toán; hộp thư này có quy tắc Sieve chuyển tiếp sang gmail.com.\n",
    )
    exe = _message("demo-exe", "Phần mềm kế toán mới", HOANT, VANPHONG, "Anh cài giúp em phần mềm này.\n")
    exe.add_attachment(PE, maintype="application", subtype="octet-stream", filename="cai-dat-ke-toan.exe")
    big = _message("demo-big", "Số liệu thống kê cả năm", VANPHONG, PARTNER, "Gửi anh số liệu.\n")
    big.add_attachment(
        b"%PDF-1.7\n" + b"\x00" * (31 * 2**20),
        maintype="application",
        subtype="pdf",
        filename="so-lieu-2026.pdf",
    )
    encrypted = _message(
        "demo-encrypted", "Hồ sơ dự toán (có mật khẩu)", PARTNER, VANPHONG, "Mật khẩu sẽ gửi qua điện thoại.\n"
    )
    encrypted.add_attachment(
        sevenzip_bytes({"du-toan-2027.xlsx": b"PK\x03\x04 so lieu"}, password="demo"),
        maintype="application",
        subtype="x-7z-compressed",
        filename="du-toan-2027.7z",
    )
    classified = _message(
        "demo-classified", "TỐI MẬT - Phương án bảo vệ mục tiêu", HOANT, VANPHONG, "Đề nghị đồng chí nghiên cứu.\n"
    )
    signup = _message(
        "demo-signup",
        "Xác nhận tài khoản Facebook của bạn",
        "security@facebookmail.com",
        VANPHONG,
        "Mã xác nhận của bạn là 482913.\n",
    )
    virus = _message("demo-eicar", "Báo giá thiết bị", PARTNER, VANPHONG, "Gửi anh bảng báo giá.\n")
    virus.add_attachment(eicar(), maintype="text", subtype="plain", filename="bao-gia.txt")
    return [
        Sample(
            "demo-clean",
            "thư công vụ bình thường / clean official mail",
            PARTNER,
            [VANPHONG],
            clean,
            "delivered",
        ),
        Sample(
            "demo-redirect",
            "thư bị Sieve tự chuyển tiếp sang gmail.com / auto-forwarded to gmail.com",
            PARTNER,
            [KETOAN],
            redirected,
            "rejected",
        ),
        Sample("demo-exe", "tệp .exe đính kèm / an .exe attachment", HOANT, [VANPHONG], exe, "rejected"),
        Sample(
            "demo-encrypted",
            "tệp nén có mật khẩu / a password-protected archive",
            PARTNER,
            [VANPHONG],
            encrypted,
            "tagged",
        ),
        Sample("demo-big", "tệp đính kèm 31 MiB / a 31 MiB attachment", VANPHONG, [PARTNER], big, "rejected"),
        Sample("demo-eicar", "tệp có vi rút (EICAR) / a virus (EICAR)", PARTNER, [VANPHONG], virus, "rejected"),
        Sample(
            "demo-classified",
            "tiêu đề đóng dấu TỐI MẬT / a subject stamped TỐI MẬT",
            HOANT,
            [VANPHONG],
            classified,
            "quarantined",
        ),
        Sample(
            "demo-signup",
            "thư đăng ký Facebook / a Facebook sign-up mail",
            "security@facebookmail.com",
            [VANPHONG],
            signup,
            "tagged",
        ),
    ]
