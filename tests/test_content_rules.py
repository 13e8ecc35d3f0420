"""classified-content and service-registration: recall on real stamps, precision on ordinary prose."""

from __future__ import annotations

import pytest

from rules.content import ClassifiedContent, ServiceRegistration, stamp_in, stamp_in_filename
from rules.facts import Attachment, Domains, MessageFacts
from rules.profile import load_profile

PROFILE = load_profile("dn-2022")
DOMAINS = Domains(local=("example.gov.vn",), government=("gov.vn",))
STAMPS = ["TUYỆT MẬT", "TỐI MẬT", "MẬT"]


def facts(**kw: object) -> MessageFacts:
    base: dict[str, object] = {
        "mail_from": "a@partner.gov.vn",
        "rcpt_tos": ("vanphong@example.gov.vn",),
        "domains": DOMAINS,
    }
    base.update(kw)
    return MessageFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("subject", "level"),
    [
        ("[MẬT] Báo cáo tình hình an ninh", "MẬT"),
        ("TỐI MẬT - Kế hoạch phòng thủ", "TỐI MẬT"),
        ("Tuyệt mật: phương án", "TUYỆT MẬT"),
        ("Mật", "MẬT"),
        ("(Tối mật) Văn bản số 12", "TỐI MẬT"),
        ("Công văn số 45 - MẬT", "MẬT"),
        ("Độ mật: Tối mật", "TỐI MẬT"),
    ],
)
def test_stamped_subjects(subject: str, level: str) -> None:
    assert stamp_in(subject, STAMPS, subject=True) == level


@pytest.mark.parametrize(
    "subject",
    [
        "Thay đổi mật khẩu hộp thư",
        "Mật khẩu mới của anh",
        "Hướng dẫn bảo mật thông tin",
        "Thư mời họp về công tác bảo vệ bí mật nhà nước",
        "Giữ bí mật thông tin khách hàng",
        "Mật ong rừng Đắk Nông",
        "Quan hệ mật thiết giữa hai đơn vị",
        "Gửi anh Nguyễn Văn Mật",
        "THAY ĐỔI MẬT KHẨU",
        "BẢO MẬT THÔNG TIN",
        "Chào thân mật",
    ],
)
def test_ordinary_subjects_are_not_stamps(subject: str) -> None:
    assert stamp_in(subject, STAMPS, subject=True) is None


def test_body_stamp_line_and_prose() -> None:
    rule = ClassifiedContent()
    hit = facts(subject="Kế hoạch", body_text="UBND TỈNH ĐẮK NÔNG\n\nTỐI MẬT\n\nKế hoạch số 5\n")
    assert [f.detail for f in rule.check(hit, PROFILE)] == ["nội dung thư / body: TỐI MẬT"]
    prose = facts(
        subject="Hướng dẫn",
        body_text="Cán bộ phải giữ bí mật nhà nước và đổi mật khẩu định kỳ.\n"
        "Người liên hệ: Nguyễn Văn Mật.\nMật khẩu tạm: Abc@12345\n",
    )
    assert list(rule.check(prose, PROFILE)) == []


def test_attachment_text_and_names() -> None:
    rule = ClassifiedContent()
    docx = Attachment(
        filename="ke-hoach.docx", content_type="application/docx", size=100, text="ĐỘ MẬT: TUYỆT MẬT\nNội dung"
    )
    assert "TUYỆT MẬT" in next(rule.check(facts(attachments=(docx,)), PROFILE)).detail
    assert stamp_in_filename("TOI-MAT_bao-cao.docx") == "TỐI MẬT"
    assert stamp_in_filename("tuyet_mat.pdf") == "TUYỆT MẬT"
    assert stamp_in_filename("MAT - ke hoach.doc") == "MẬT"
    for name in ("mat-khau.txt", "bao-mat-thong-tin.pdf", "tai-lieu-mat-ong.docx", "nguyen-van-mat.pdf", "mat.pdf"):
        assert stamp_in_filename(name) is None, name
    plain = Attachment(
        filename="huong-dan-bao-mat.pdf",
        content_type="application/pdf",
        size=10,
        text="Hướng dẫn bảo mật\nĐổi mật khẩu 3 tháng một lần",
    )
    assert list(rule.check(facts(attachments=(plain,)), PROFILE)) == []


def test_service_registration() -> None:
    rule = ServiceRegistration()
    signup = facts(
        mail_from="security@facebookmail.com",
        subject="Xác nhận tài khoản Facebook của bạn",
        body_text="Mã xác nhận của bạn là 123456",
    )
    (finding,) = rule.check(signup, PROFILE)
    assert finding.detail == "vanphong@example.gov.vn đăng ký / registered at Facebook (facebookmail.com)"
    english = facts(mail_from="no-reply@mail.tiktok.com", subject="Verify your account", body_text="Your code")
    assert list(rule.check(english, PROFILE))
    newsletter = facts(mail_from="news@facebookmail.com", subject="Bạn có 3 thông báo mới", body_text="Xem ngay")
    assert list(rule.check(newsletter, PROFILE)) == []
    to_outside = facts(mail_from="security@facebookmail.com", rcpt_tos=("a@gmail.com",), subject="Confirm your email")
    assert list(rule.check(to_outside, PROFILE)) == []
    not_a_service = facts(mail_from="a@partner.gov.vn", subject="Xác nhận tài khoản hệ thống một cửa")
    assert list(rule.check(not_a_service, PROFILE)) == []
