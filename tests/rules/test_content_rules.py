"""classified-content and service-registration: recall on real stamps and sign-ups, precision on prose."""

from __future__ import annotations

import pytest

from rules.base import Action, Severity
from rules.content import (
    ClassifiedContent,
    ServiceRegistration,
    Stamps,
    phrase_pattern,
    stamp_in_filename,
    stamp_in_subject,
    stamp_in_text,
)
from rules.facts import Attachment, Domains, Member, MessageFacts
from rules.profile import load_profile

PROFILE = load_profile("dn-2022")
ST = Stamps.of(PROFILE)
DOMAINS = Domains(local=("example.gov.vn",), government=("gov.vn",))
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def facts(
    *,
    mail_from: str = "lanhdao@partner.gov.vn",
    rcpt_tos: tuple[str, ...] = ("vanphong@example.gov.vn",),
    subject: str = "",
    body_text: str = "",
    attachments: tuple[Attachment, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> MessageFacts:
    return MessageFacts(
        mail_from=mail_from,
        rcpt_tos=rcpt_tos,
        domains=DOMAINS,
        headers=headers,
        subject=subject,
        body_text=body_text,
        attachments=attachments,
    )


def details(rule: ClassifiedContent | ServiceRegistration, msg: MessageFacts) -> list[str]:
    return [f.detail for f in rule.check(msg, PROFILE)]


# ---------------------------------------------------------------- classified-content: subject


@pytest.mark.parametrize(
    ("subject", "level"),
    [
        ("[MẬT] Báo cáo tình hình an ninh", "MẬT"),
        ("[Mật] Báo cáo", "MẬT"),
        ("TỐI MẬT - Kế hoạch phòng thủ", "TỐI MẬT"),
        ("Tuyệt mật: phương án diễn tập", "TUYỆT MẬT"),
        ("Mật", "MẬT"),
        ("MẬT", "MẬT"),
        ("Re: Mật", "MẬT"),
        ("Fwd: [Tối mật] Kế hoạch", "TỐI MẬT"),
        ("TL: TUYỆT MẬT", "TUYỆT MẬT"),
        ("(Tối mật) Văn bản số 12", "TỐI MẬT"),
        ("Công văn số 45 - MẬT", "MẬT"),
        ("Kế hoạch số 5 – Tối mật", "TỐI MẬT"),
        ("Độ mật: Tối mật", "TỐI MẬT"),
        ("Độ mật: Tối mật - Kế hoạch số 5", "TỐI MẬT"),
        ("TỐI MẬT Kế hoạch tác chiến", "TỐI MẬT"),
        ("TUYỆT MẬT KẾ HOẠCH", "TUYỆT MẬT"),
        ("MẬT Báo cáo quý", "MẬT"),
        ("Báo cáo MẬT về tình hình", "MẬT"),
        ("Kế hoạch - TỐI MẬT - số 5", "TỐI MẬT"),
        ("Tối mật | Tuyệt mật", "TUYỆT MẬT"),  # the gravest level wins
    ],
)
def test_stamped_subjects(subject: str, level: str) -> None:
    assert stamp_in_subject(subject, ST) == level


def test_decomposed_unicode_subject() -> None:
    import unicodedata

    assert stamp_in_subject(unicodedata.normalize("NFD", "[TỐI MẬT] Kế hoạch"), ST) == "TỐI MẬT"


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "Thay đổi mật khẩu hộp thư",
        "Mật khẩu mới của anh",
        "Mật khẩu: đổi ngay",
        "Hướng dẫn bảo mật thông tin",
        "Re: Bảo mật",
        "Thư mời họp về công tác bảo vệ bí mật nhà nước",
        "Giữ bí mật thông tin khách hàng",
        "Bí mật - không phổ biến",
        "Mật ong rừng Đắk Nông",
        "MẬT ONG RỪNG",
        "Quan hệ mật thiết giữa hai đơn vị",
        "Chào thân mật",
        "Gửi anh Nguyễn Văn Mật",
        "Nguyễn Văn Mật",
        "NGUYỄN VĂN MẬT - báo cáo",
        "Họp - anh Mật chủ trì",
        "THAY ĐỔI MẬT KHẨU",
        "Đổi MẬT khẩu",
        "BẢO MẬT THÔNG TIN",
        "Tài liệu tuyệt mật về dự án",  # lower case inside a sentence: prose, not a stamp
        "Mật độ dân số năm 2026",
        "Quy định về mật mã dân sự",
        "Tập huấn bảo vệ bí mật nhà nước: các độ mật",
    ],
)
def test_ordinary_subjects_are_not_stamps(subject: str) -> None:
    assert stamp_in_subject(subject, ST) is None


# ---------------------------------------------------------------- body and document text


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("UBND TỈNH ĐẮK NÔNG\n\nTỐI MẬT\n\nKế hoạch số 5", "TỐI MẬT"),
        ("MẬT", "MẬT"),
        ("  TUYỆT MẬT  ", "TUYỆT MẬT"),
        ("*** MẬT ***", "MẬT"),
        ("[MẬT]", "MẬT"),
        ("> TỐI MẬT", "TỐI MẬT"),  # quoted in a reply: still circulating
        ("Độ mật: Tối mật", "TỐI MẬT"),
        ("ĐỘ MẬT: TUYỆT MẬT", "TUYỆT MẬT"),
        ("Mức độ mật: Mật", "MẬT"),
        ("Số: 12/KH-UBND    Độ mật: Tuyệt mật", "TUYỆT MẬT"),
        ("UBND TỈNH ĐẮK NÔNG\t\tMẬT", "MẬT"),  # a table cell
        ("Kính gửi\nMẬT\nnội dung\nTỐI MẬT", "TỐI MẬT"),
    ],
)
def test_stamp_lines(text: str, level: str) -> None:
    assert stamp_in_text(text, ST) == level


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Cán bộ phải giữ bí mật nhà nước và đổi mật khẩu định kỳ.",
        "Người liên hệ: Nguyễn Văn Mật",
        "NGUYỄN VĂN MẬT",
        "Mật",  # title case alone: a name as often as a stamp
        "mật",
        "Tuyệt mật",
        "Bí mật nhà nước gồm ba độ mật:\n- Tuyệt mật\n- Tối mật\n- Mật",
        "MẬT KHẨU: Abc@12345",
        "BẢO MẬT",
        "CHÍNH SÁCH BẢO MẬT",
        "Độ mật: thường",
        "Mật ong Đắk Nông, thân mật gửi anh chị.",
        "Quan hệ mật thiết; bảo mật thông tin; tài liệu tối mật phải được bảo vệ.",
    ],
)
def test_prose_is_not_a_stamp(text: str) -> None:
    assert stamp_in_text(text, ST) is None


# ---------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("TOI-MAT_bao-cao.docx", "TỐI MẬT"),
        ("tuyet_mat.pdf", "TUYỆT MẬT"),
        ("Bao cao Tuyet Mat.pdf", "TUYỆT MẬT"),
        ("MAT - ke hoach.doc", "MẬT"),
        ("Mat - ke hoach.doc", "MẬT"),
        ("MAT_bao-cao.docx", "MẬT"),
        ("[mat] ke hoach.pdf", "MẬT"),
        ("MAT.pdf", "MẬT"),
        ("MAT - thu moi.doc", "MẬT"),
        ("MẬT_bao-cao.pdf", "MẬT"),
        ("Mật - Kế hoạch.docx", "MẬT"),
        ("Báo cáo TỐI MẬT.docx", "TỐI MẬT"),
        ("tài liệu tuyệt mật.pdf", "TUYỆT MẬT"),
        ("ho-so/TUYET MAT.pdf", "TUYỆT MẬT"),
    ],
)
def test_stamped_file_names(name: str, level: str) -> None:
    assert stamp_in_filename(name, ST) == level


@pytest.mark.parametrize(
    "name",
    [
        "mat-khau.txt",
        "MAT KHAU.txt",
        "Mật khẩu wifi.txt",
        "mat-bang-tang-1.pdf",  # mặt bằng: floor plan
        "MAT_BANG.dwg",
        "mat-cat-A-A.pdf",
        "Mat tran To quoc.docx",
        "Mặt bằng.pdf",
        "bao-mat-thong-tin.pdf",
        "bi-mat-nha-nuoc.pdf",
        "tai-lieu-mat-ong.docx",
        "nguyen-van-mat.pdf",
        "Nguyen Van Mat - CV.pdf",
        "mat.pdf",
        "Mat_CV.pdf",
        "mat_ke_hoach.doc",  # the documented trade-off: lower-case ASCII "mat" is not a stamp
        "format.pdf",
        "matbang.pdf",
        "",
    ],
)
def test_ordinary_file_names(name: str) -> None:
    assert stamp_in_filename(name, ST) is None


# ---------------------------------------------------------------- the rule


def test_rule_declarations() -> None:
    rule = ClassifiedContent()
    assert rule.severity is Severity.CRITICAL and rule.default_action is Action.QUARANTINE
    cited = [PROFILE.cite(f) for f in rule.check(facts(subject="[MẬT] kế hoạch"), PROFILE)]
    assert [f.citation for f in cited] == ["DN-2022 Đ13.7, DN-2022 Đ15.3"]
    lc = load_profile("lc-2015")
    assert [lc.cite(f).citation for f in rule.check(facts(subject="[MẬT] kế hoạch"), lc)] == [
        "LC-2015 Đ7.1, LC-2015 Đ7.2"
    ]
    reg = ServiceRegistration()
    assert reg.severity is Severity.WARNING and reg.default_action is Action.TAG
    assert [str(c) for c in PROFILE.rules["service-registration"].cites] == ["DN-2022 Đ13.4"]


def test_rule_reports_each_place() -> None:
    rule = ClassifiedContent()
    msg = facts(
        subject="TỐI MẬT - Kế hoạch",
        body_text="UBND TỈNH\n\nMẬT\n",
        attachments=(
            Attachment("bao-cao.docx", DOCX, 100, text="ĐỘ MẬT: TUYỆT MẬT\nNội dung"),
            Attachment("TOI-MAT_phu-luc.pdf", "application/pdf", 10),
            Attachment(
                "ho-so.zip",
                "application/zip",
                10,
                members=(Member("ho-so/tuyet_mat.docx", 5, 1), Member("ho-so/bang-ke.xlsx", 5, 1)),
            ),
        ),
    )
    assert details(rule, msg) == [
        "tiêu đề / subject: TỐI MẬT",
        "nội dung / body: MẬT",
        "tệp / file bao-cao.docx: TUYỆT MẬT",
        "tên tệp / file name TOI-MAT_phu-luc.pdf: TỐI MẬT",
        "tên tệp / file name ho-so.zip → ho-so/tuyet_mat.docx: TUYỆT MẬT",
    ]
    assert all(PROFILE.cite(f).citation.startswith("DN-2022 Đ13.7") for f in rule.check(msg, PROFILE))


def test_rule_is_silent_on_ordinary_mail() -> None:
    rule = ClassifiedContent()
    msg = facts(
        subject="Thư mời họp về công tác bảo vệ bí mật nhà nước",
        body_text="Kính gửi anh chị,\nĐề nghị giữ bí mật nhà nước, đổi mật khẩu 3 tháng một lần.\n"
        "Người liên hệ: Nguyễn Văn Mật.\nMật khẩu tạm: Abc@12345\nTrân trọng, thân mật.\n",
        attachments=(
            Attachment(
                "huong-dan-bao-mat.pdf",
                "application/pdf",
                10,
                text="HƯỚNG DẪN BẢO MẬT\nĐổi mật khẩu 3 tháng một lần\nCác độ mật: Tuyệt mật, Tối mật, Mật",
            ),
            Attachment("mat-bang-tang-1.pdf", "application/pdf", 10),
            Attachment(None, "image/png", 10),
        ),
    )
    assert details(rule, msg) == []


def test_stamps_come_from_the_profile() -> None:
    rule = ClassifiedContent()
    custom = load_profile(
        "dn-2022", {"lists": {"classified_stamps": ["CONFIDENTIAL", "MẬT"], "classified_labels": ["level"]}}
    )
    assert details(rule, facts(subject="[CONFIDENTIAL] plan")) == []
    assert [f.detail for f in rule.check(facts(subject="[CONFIDENTIAL] plan"), custom)] == [
        "tiêu đề / subject: CONFIDENTIAL"
    ]
    assert [f.detail for f in rule.check(facts(body_text="Level: Confidential"), custom)] == [
        "nội dung / body: CONFIDENTIAL"
    ]


# ---------------------------------------------------------------- service-registration


@pytest.mark.parametrize(
    ("mail_from", "subject", "body", "service"),
    [
        ("registration@facebookmail.com", "Xác nhận tài khoản Facebook của bạn", "", "Facebook (facebookmail.com)"),
        ("security@facebookmail.com", "123456 is your Facebook confirmation code", "", "Facebook (facebookmail.com)"),
        ("no-reply@mail.instagram.com", "123456 is your Instagram code", "", "Instagram (mail.instagram.com)"),
        ("noreply@zalo.me", "Mã xác thực Zalo", "", "Zalo (zalo.me)"),
        ("no-reply@account.tiktok.com", "Mã xác minh TikTok của bạn", "", "TikTok (tiktok.com)"),
        ("no-reply@mail.shopee.vn", "Chào mừng bạn đến với Shopee", "", "Shopee (shopee.vn)"),
        (
            "noreply@lazada.vn",
            "Thông báo",
            "Vui lòng xác nhận địa chỉ email để hoàn tất đăng ký.",
            "Lazada (lazada.vn)",
        ),
        ("hotro@tiki.vn", "Kích hoạt tài khoản Tiki", "", "Tiki (tiki.vn)"),
        ("verify@x.com", "Confirm your email address", "", "X (x.com)"),
        ("info@twitter.com", "Welcome to Twitter", "", "X (Twitter) (twitter.com)"),
        (
            "security-noreply@linkedin.com",
            "Hi",
            "Please confirm your email to finish signing up.",
            "LinkedIn (linkedin.com)",
        ),
        ("no-reply@telegram.org", "Your login code", "", "Telegram (telegram.org)"),
        ("no-reply@accounts.google.com", "Verify your account", "", "Google (accounts.google.com)"),
        (
            "account-security-noreply@accountprotection.microsoft.com",
            "Microsoft account security code",
            "",
            "Microsoft (accountprotection.microsoft.com)",
        ),
        ("no_reply@email.apple.com", "x", "", None),  # not a listed domain
    ],
)
def test_sign_ups(mail_from: str, subject: str, body: str, service: str | None) -> None:
    found = details(ServiceRegistration(), facts(mail_from=mail_from, subject=subject, body_text=body))
    if service is None:
        assert found == []
    else:
        assert found == [f"vanphong@example.gov.vn đăng ký / registered at {service}"]


def test_from_header_names_the_service_when_the_envelope_is_a_bounce_address() -> None:
    msg = facts(
        mail_from="bounce-123@bounces.example-esp.com",
        headers=(("From", "Facebook <security@facebookmail.com>"),),
        subject="Mã xác nhận Facebook của bạn",
    )
    assert details(ServiceRegistration(), msg) == [
        "vanphong@example.gov.vn đăng ký / registered at Facebook (facebookmail.com)"
    ]


@pytest.mark.parametrize(
    ("mail_from", "subject", "body"),
    [
        ("notification@facebookmail.com", "Bạn có 3 thông báo mới", "Xem các thông báo của bạn."),
        ("notification@facebookmail.com", "Nguyễn Văn A đã bình luận về bài viết của bạn", ""),
        ("info@mail.shopee.vn", "Đơn hàng #123 đã được giao", "Shopee không bao giờ yêu cầu mã OTP của khách hàng."),
        ("news@tiki.vn", "Siêu sale 11.11", "Không chia sẻ mã OTP cho bất kỳ ai."),
        ("info@mail.shopee.vn", "Đơn hàng đã giao", "Shopee không bao giờ yêu cầu mã OTP của bạn qua điện thoại."),
        ("news@lazada.vn", "Flash sale", "Never share your verification code with anyone."),
        ("messages-noreply@linkedin.com", "You appeared in 5 searches this week", "Welcome to your weekly summary"),
        ("no-reply@dichvucong.gov.vn", "Xác nhận tài khoản dịch vụ công", "Mã xác nhận: 5555"),
        ("lanhdao@partner.gov.vn", "Xác nhận tài khoản hệ thống một cửa", ""),
        ("someone@gmail.com", "Welcome to the team", ""),
        ("bounce@evil-facebookmail.com", "Confirm your email", ""),  # not a subdomain of facebookmail.com
        ("team@google.com", "Verify your account", ""),  # Workspace mail: only consumer-account domains are listed
    ],
)
def test_not_sign_ups(mail_from: str, subject: str, body: str) -> None:
    assert details(ServiceRegistration(), facts(mail_from=mail_from, subject=subject, body_text=body)) == []


def test_only_official_recipients_are_reported() -> None:
    rule = ServiceRegistration()
    outside = facts(mail_from="security@facebookmail.com", rcpt_tos=("a@gmail.com",), subject="Confirm your email")
    assert details(rule, outside) == []
    mixed = facts(
        mail_from="security@facebookmail.com",
        rcpt_tos=("a@gmail.com", "VanPhong@example.gov.vn", "vanphong@example.gov.vn", "ketoan@sub.example.gov.vn"),
        subject="Confirm your email",
    )
    assert details(rule, mixed) == [
        "vanphong@example.gov.vn đăng ký / registered at Facebook (facebookmail.com)",
        "ketoan@sub.example.gov.vn đăng ký / registered at Facebook (facebookmail.com)",
    ]


def test_config_extends_the_service_list() -> None:
    rule = ServiceRegistration()
    msg = facts(mail_from="no-reply@mangxahoi.example", subject="Xác nhận tài khoản")
    assert details(rule, msg) == []
    table = load_profile("dn-2022", {"lists": {"service_domains_extra": {"MangXaHoi.example": "Mạng Xã Hội"}}})
    assert [f.detail for f in rule.check(msg, table)] == [
        "vanphong@example.gov.vn đăng ký / registered at Mạng Xã Hội (mangxahoi.example)"
    ]
    plain = load_profile("dn-2022", {"lists": {"service_domains_extra": ["mangxahoi.example"]}})
    assert [f.detail for f in rule.check(msg, plain)] == [
        "vanphong@example.gov.vn đăng ký / registered at mangxahoi.example (mangxahoi.example)"
    ]
    assert dict(table.service_domains)["facebookmail.com"] == "Facebook"  # the shipped list is kept


def test_phrases_are_whole_words_with_a_wildcard() -> None:
    pattern = phrase_pattern(("is your * code", "mã otp"))
    assert pattern is not None
    assert pattern.search("123456 is your instagram code")
    assert not pattern.search("this is your code")
    assert pattern.search("mã   otp")
    assert not pattern.search("mã otpx")
    assert phrase_pattern(()) is None


def test_profile_fields_keep_order_and_case() -> None:
    assert PROFILE.classified_stamps == ("TUYỆT MẬT", "TỐI MẬT", "MẬT")
    assert "khẩu" in PROFILE.classified_false_friends
    assert ("facebookmail.com", "Facebook") in PROFILE.service_domains
    assert PROFILE.service_domains_extra == ()
    assert "xác nhận tài khoản" in PROFILE.registration_subject_phrases
    assert isinstance(PROFILE.executable_extensions, frozenset) and "exe" in PROFILE.executable_extensions
