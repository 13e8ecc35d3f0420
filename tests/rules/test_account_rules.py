"""Account rules with an injected clock and the real working-day calendar (no sleeps, no now())."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import load_account_profile
from rules.account_security import LoginAnomaly
from rules.accounts import (
    CheckFrequency,
    DepartedMailbox,
    FirstLoginPassword,
    InactiveMailbox,
    PasswordAge,
    Quota,
    UnreadBacklog,
    check_compliance,
    mailbox_state,
)
from rules.address_format import AddressFormat, personal_base
from rules.mailbox_facts import LoginFact, MailboxFacts

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = Calendar()
PROFILE = load_account_profile("dn-2022")


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def stamp(when: datetime) -> int:
    return int(when.timestamp())


def box(**kw: object) -> MailboxFacts:
    base: dict[str, object] = {
        "address": "hoant.stttt@example.gov.vn",
        "display_name": "Nguyễn Thị Hoa",
        "unit": "stttt",
        "kind": "personal",
        "status": "active",
        "created_at": at(2024, 1, 2),
        "password_changed_at": at(2026, 9, 1),
    }
    base.update(kw)
    return MailboxFacts(**base)  # type: ignore[arg-type]


def rule_ids(rule: object, facts: MailboxFacts, now: datetime) -> list[str]:
    return [f.detail for f in rule.check(facts, PROFILE, now, CAL)]  # type: ignore[attr-defined]


def test_three_months_and_one_day() -> None:
    facts = box(last_login=at(2026, 8, 21, 16))
    assert mailbox_state(facts, PROFILE, at(2026, 11, 20), CAL) == "active"
    assert mailbox_state(facts, PROFILE, at(2026, 11, 21), CAL) == "suspend-due"
    (detail,) = rule_ids(InactiveMailbox(), facts, at(2026, 11, 22))
    assert "2026-08-21" in detail and "suspend" in detail


def test_removal_fifteen_working_days_after_a_notice_spanning_tet() -> None:
    # Last login 10 Nov 2025 → notice due 10 Feb 2026; 15 working days later, across Tết: 10 Mar 2026.
    facts = box(last_login=at(2025, 11, 10))
    assert mailbox_state(facts, PROFILE, at(2026, 2, 10), CAL) == "suspend-due"
    assert mailbox_state(facts, PROFILE, at(2026, 3, 9), CAL) == "suspend-due"
    assert mailbox_state(facts, PROFILE, at(2026, 3, 10), CAL) == "removal-due"
    (detail,) = rule_ids(InactiveMailbox(), facts, at(2026, 3, 10))
    assert "10/02/2026" in detail and "10/03/2026" in detail


def test_a_login_reopens_and_master_logins_do_not_exist_here() -> None:
    facts = box(last_login=at(2026, 11, 1))
    assert mailbox_state(facts, PROFILE, at(2026, 12, 1), CAL) == "active"
    assert rule_ids(InactiveMailbox(), facts, at(2026, 12, 1)) == []


def test_check_frequency_over_a_week_with_a_holiday() -> None:
    # Week of 27 Apr 2026: Mon 27 (Hùng Kings observed) and Thu 30 Apr, Fri 1 May are holidays.
    # Working days: Tue 28, Wed 29 Apr. Under LC-2015 Đ8.1 the unit box needs 2 checks a working day,
    # one in the morning and one in the afternoon; under DN-2022 Đ9.2, one ("hằng ngày").
    lc = load_account_profile("lc-2015")
    logins = {
        date(2026, 4, 28): (
            stamp(at(2026, 4, 28, 8)),
            stamp(at(2026, 4, 28, 8, 10)),  # same session (under 30 min)
            stamp(at(2026, 4, 28, 14)),
        ),
        date(2026, 4, 29): (stamp(at(2026, 4, 29, 8)),),
    }
    facts = box(address="vanphong@example.gov.vn", kind="unit", login_times=logins)
    met, total, mean = check_compliance(facts, lc, date(2026, 4, 27), date(2026, 5, 1), CAL, TZ)
    assert (met, total) == (1, 2)
    assert mean == pytest.approx(1.5)
    (finding,) = CheckFrequency().check(facts, lc, at(2026, 5, 4), CAL)
    assert "đạt 1/20" in finding.detail and "2-3 lần/ngày (sáng và chiều)" in finding.detail
    assert finding.aspect == "unit"
    assert str(lc.cite(finding).cites[0]) == "LC-2015 Đ8.1"
    assert check_compliance(facts, PROFILE, date(2026, 4, 27), date(2026, 5, 1), CAL, TZ)[:2] == (2, 2)
    (dn,) = rule_ids(CheckFrequency(), facts, at(2026, 5, 4))
    assert "đạt 2/20" in dn and "mục tiêu 1 lần/ngày" in dn


def test_morning_and_afternoon_or_within_working_hours() -> None:
    # Two checks on Tue 28 Apr 2026, both in the morning: enough for BDi-2017 (2 within working hours),
    # not for LC-2015 (one at the start of the morning and one of the afternoon); one at 19:00 counts for neither.
    morning = {date(2026, 4, 28): (stamp(at(2026, 4, 28, 8)), stamp(at(2026, 4, 28, 10)))}
    evening = {date(2026, 4, 28): (stamp(at(2026, 4, 28, 8)), stamp(at(2026, 4, 28, 19)))}
    lc, bdi = load_account_profile("lc-2015"), load_account_profile("bdi-2017")
    day = date(2026, 4, 28)
    unit = box(address="vanphong@example.gov.vn", kind="unit", login_times=morning)
    assert check_compliance(unit, bdi, day, day, CAL, TZ)[:2] == (1, 1)
    assert check_compliance(unit, lc, day, day, CAL, TZ)[:2] == (0, 1)
    late = box(address="vanphong@example.gov.vn", kind="unit", login_times=evening)
    assert check_compliance(late, bdi, day, day, CAL, TZ)[:2] == (0, 1)
    assert check_compliance(late, load_account_profile("dn-2022"), day, day, CAL, TZ)[:2] == (1, 1)


def test_unread_backlog_counts_working_days() -> None:
    facts = box(address="vanphong@example.gov.vn", kind="unit", oldest_unseen=at(2026, 11, 20, 16))  # a Friday
    assert rule_ids(UnreadBacklog(), facts, at(2026, 11, 23, 10)) == []  # Monday: 1 working day
    assert rule_ids(UnreadBacklog(), facts, at(2026, 11, 25, 10))  # Tue 24 Nov is a holiday; Wed: 2
    assert rule_ids(UnreadBacklog(), box(oldest_unseen=at(2026, 1, 1)), at(2026, 11, 25)) == []  # personal


def test_quota_with_and_without_an_exception() -> None:
    assert "MiB >" in rule_ids(Quota(), box(quota_used_bytes=1100 * 2**20), at(2026, 11, 22))[0]
    assert rule_ids(Quota(), box(quota_used_bytes=1100 * 2**20, quota_mb=2048), at(2026, 11, 22)) == []
    assert "%" in rule_ids(Quota(), box(quota_used_bytes=950 * 2**20), at(2026, 11, 22))[0]
    assert rule_ids(Quota(), box(quota_used_bytes=3000 * 2**20, quota_mb=4096), at(2026, 11, 22))  # capped at 2 GB


def test_password_age_user_and_admin() -> None:
    now = at(2026, 11, 22)
    assert rule_ids(PasswordAge(), box(password_changed_at=at(2026, 8, 23)), now) == []
    assert rule_ids(PasswordAge(), box(password_changed_at=at(2026, 8, 21)), now)
    admin = box(kind="admin", address="quantri@example.gov.vn", password_changed_at=at(2026, 10, 20))
    assert rule_ids(PasswordAge(), admin, now)


def test_first_login_password() -> None:
    created = at(2026, 10, 1)
    assert rule_ids(
        FirstLoginPassword(),
        box(created_at=created, password_changed_at=None, last_login=at(2026, 10, 2)),
        at(2026, 11, 1),
    )
    assert rule_ids(FirstLoginPassword(), box(created_at=created, password_changed_at=None), at(2026, 11, 1)) == []
    changed = box(created_at=created, password_changed_at=at(2026, 10, 2), last_login=at(2026, 10, 2))
    assert rule_ids(FirstLoginPassword(), changed, at(2026, 11, 1)) == []


def test_departed_deadline() -> None:
    facts = box(status="departed", status_changed_at=at(2026, 11, 2))
    # Request within 5 days (Sat 7 Nov), then 3 working days: Mon 9, Tue 10, Wed 11 Nov.
    assert rule_ids(DepartedMailbox(), facts, at(2026, 11, 11)) == []
    assert rule_ids(DepartedMailbox(), facts, at(2026, 11, 12))


def test_login_anomalies() -> None:
    now = at(2026, 11, 22, 10)
    failures = tuple(LoginFact(now - timedelta(minutes=i), f"198.51.100.{i}") for i in range(12))
    assert "brute force" in rule_ids(LoginAnomaly(), box(recent_failures=failures), now)[0]
    logins = (
        LoginFact(now - timedelta(minutes=50), "203.113.1.5"),
        LoginFact(now - timedelta(minutes=20), "14.160.2.9"),
        LoginFact(now - timedelta(minutes=5), "27.72.100.3"),
    )
    assert "networks" in rule_ids(LoginAnomaly(), box(recent_logins=logins), now)[0]
    assert rule_ids(LoginAnomaly(), box(recent_logins=logins[:1]), now) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Nguyễn Thị Hoa", "hoant"),
        ("Lê Văn Minh", "minhlv"),
        ("Đặng Đức Đạt", "datdd"),
        ("Trần Thị Ngọc Ánh", "anhttn"),
        ("Hoàng Anh", "anhh"),
    ],
)
def test_personal_names(name: str, expected: str) -> None:
    assert personal_base(name) == expected


def test_address_convention() -> None:
    now = at(2026, 11, 22)
    assert rule_ids(AddressFormat(), box(address="hoant.stttt@daknong.gov.vn"), now) == []
    assert rule_ids(AddressFormat(), box(address="hoant1.stttt@daknong.gov.vn"), now) == []  # a namesake
    (detail,) = rule_ids(AddressFormat(), box(address="hoa.nguyen@daknong.gov.vn"), now)
    assert "expected hoant.stttt@daknong.gov.vn" in detail
    unit_box = box(address="vanphong@daknong.gov.vn", display_name="Văn phòng", unit="vp.stttt", kind="unit")
    assert "expected vp.stttt@daknong.gov.vn" in rule_ids(AddressFormat(), unit_box, now)[0]
    (detail,) = rule_ids(AddressFormat(), box(address="hoant.stttt@example.gov.vn"), now)
    assert "daknong.gov.vn" in detail


def test_lao_cai_addresses_follow_lao_cai_not_dak_nong() -> None:
    """<fullname>-svhttdl@laocai.gov.vn is right under LC-2015 Đ4.2 and wrong under DN-2022 Đ5."""
    lc = load_account_profile("lc-2015")
    now = at(2026, 11, 22)
    person = box(address="nguyenthihoa-svhttdl@laocai.gov.vn", unit="vanphong")
    assert list(AddressFormat().check(person, lc, now, CAL)) == []
    assert rule_ids(AddressFormat(), person, now)  # DN-2022 expects hoant.vanphong@daknong.gov.vn
    unit_box = box(address="vanphong-svhttdl@laocai.gov.vn", display_name="Văn phòng", unit="vanphong", kind="unit")
    agency = box(address="contact-svhttdl@laocai.gov.vn", display_name="Sở VHTTDL", unit="svhttdl", kind="agency")
    assert list(AddressFormat().check(unit_box, lc, now, CAL)) == []
    assert list(AddressFormat().check(agency, lc, now, CAL)) == []
    (wrong,) = AddressFormat().check(box(address="hoant.vanphong@laocai.gov.vn", unit="vanphong"), lc, now, CAL)
    assert "expected nguyenthihoa-svhttdl@laocai.gov.vn" in wrong.detail
