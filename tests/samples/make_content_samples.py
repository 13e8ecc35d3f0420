"""Write the samples of classified-content and service-registration (run once; outputs committed)."""

from __future__ import annotations

from make_samples import message, write  # type: ignore[import-not-found]

from tests.samples.archive_builders import docx_bytes

ENV = 'mail_from = "lanhdao@partner.gov.vn"\nrcpt = ["vanphong@example.gov.vn"]\n'
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def classified() -> None:
    r = "classified-content"
    write(
        r,
        "subject-toi-mat",
        message("TỐI MẬT - Kế hoạch bảo vệ", sender="lanhdao@partner.gov.vn"),
        ENV + 'hit = true\ndetail = "tiêu đề / subject: TỐI MẬT"',
    )
    write(
        r,
        "stamp-line-in-body",
        message("Kế hoạch số 12", sender="lanhdao@partner.gov.vn", body="UBND TỈNH\n\nMẬT\n\nKế hoạch triển khai.\n"),
        ENV + 'hit = true\ndetail = "nội dung thư / body: MẬT"',
    )
    write(
        r,
        "stamp-in-docx",
        message(
            "Tài liệu họp",
            sender="lanhdao@partner.gov.vn",
            attachments=[("tai-lieu.docx", docx_bytes("TUYỆT MẬT\nNội dung"), DOCX)],
        ),
        ENV + 'hit = true\ndetail = "TUYỆT MẬT"',
    )
    write(
        r,
        "ascii-file-name",
        message(
            "Gửi tài liệu",
            sender="lanhdao@partner.gov.vn",
            attachments=[("TOI-MAT_bao-cao.pdf", b"%PDF-1.4\n", "application/pdf")],
        ),
        ENV + 'hit = true\ndetail = "TOI-MAT_bao-cao.pdf: TỐI MẬT"',
    )
    write(
        r,
        "password-and-security-prose",
        message(
            "Thay đổi mật khẩu và bảo mật thông tin",
            sender="lanhdao@partner.gov.vn",
            body="Đề nghị giữ bí mật nhà nước, đổi mật khẩu 3 tháng một lần.\nNgười liên hệ: Nguyễn Văn Mật.\n",
        ),
        ENV + "hit = false",
    )
    write(
        r,
        "meeting-on-state-secrets",
        message("Thư mời họp về công tác bảo vệ bí mật nhà nước", sender="lanhdao@partner.gov.vn"),
        ENV + "hit = false",
    )


def registration() -> None:
    r = "service-registration"
    env = 'mail_from = "security@facebookmail.com"\nrcpt = ["vanphong@example.gov.vn"]\n'
    write(
        r,
        "facebook-confirm-vi",
        message(
            "Xác nhận tài khoản Facebook của bạn",
            sender="security@facebookmail.com",
            to="vanphong@example.gov.vn",
            body="Mã xác nhận của bạn là 482913.\n",
        ),
        env + 'hit = true\ndetail = "vanphong@example.gov.vn đăng ký / registered at Facebook"',
    )
    write(
        r,
        "shopee-verify-en",
        message(
            "Verify your account",
            sender="no-reply@shopee.vn",
            to="vanphong@example.gov.vn",
            body="Your verification code is 1234.\n",
        ),
        'mail_from = "no-reply@shopee.vn"\nrcpt = ["vanphong@example.gov.vn"]\nhit = true\ndetail = "Shopee"',
    )
    write(
        r,
        "facebook-notification",
        message(
            "Bạn có 3 thông báo mới",
            sender="notification@facebookmail.com",
            to="vanphong@example.gov.vn",
            body="Xem các thông báo.\n",
        ),
        'mail_from = "notification@facebookmail.com"\nrcpt = ["vanphong@example.gov.vn"]\nhit = false',
    )
    write(
        r,
        "government-portal-account",
        message(
            "Xác nhận tài khoản dịch vụ công",
            sender="no-reply@dichvucong.gov.vn",
            to="vanphong@example.gov.vn",
            body="Mã xác nhận: 5555\n",
        ),
        'mail_from = "no-reply@dichvucong.gov.vn"\nrcpt = ["vanphong@example.gov.vn"]\nhit = false',
    )


if __name__ == "__main__":
    classified()
    registration()
