"""One table: for each of the five profiles, every traffic rule and every account rule meets a scenario, and
the findings are those that profile's regulation demands (with its own clauses, enforced or advisory) and
none it does not.

Each row is (rule, scenario, {profile: expected}); expected is None (no finding) or "action: citation"
for traffic rules and "enforce|advisory: citation" for the others. Traffic scenarios are the rule's own
sample messages run through the filter's evaluation; account scenarios go through evaluate_mailboxes
with the real working-day calendar.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.config import Rspamd
from monitor.inspect.limits import Limits
from monitor.inspect.pipeline import Evaluation, Settings, evaluate, run_rules, with_antivirus
from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import evaluate_mailboxes, evaluate_requests
from monitor.scanners.rspamd import SpamScore, with_spam_score
from rules import TRAFFIC_RULES
from rules.base import Finding
from rules.facts import AntivirusResult, Attachment, Domains, MessageFacts
from rules.mailbox_facts import HandoverChange, LoginFact, MailboxFacts
from rules.profile import PROFILE_NAMES, RULE_IDS, TRAFFIC_RULE_IDS, Profile, load_profile
from rules.requests import RequestFacts, YearlyReportDue
from tests.conftest import SAMPLES_DIR

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = Calendar()
DOMAINS = Domains(local=("example.gov.vn",), government=("gov.vn",))
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)  # Wednesday
DN, LC, BDI, BD, DL = PROFILE_NAMES
ALL_OFF = dict.fromkeys(PROFILE_NAMES)


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


# ----------------------------------------------------------------------------- traffic scenarios
def sample(rule: str, name: str) -> Callable[[Profile], list[Finding]]:
    def run(profile: Profile) -> list[Finding]:
        eml = SAMPLES_DIR / rule / f"{name}.eml"
        meta = tomllib.loads(eml.with_suffix(".toml").read_text("utf-8"))
        settings = Settings(domains=DOMAINS, profile=profile, limits=Limits())
        return list(evaluate(eml.read_bytes(), meta["mail_from"], tuple(meta["rcpt"]), settings).findings)

    return run


def attachments_of(size: int) -> Callable[[Profile], list[Finding]]:
    """A message whose attachments total ``size`` bytes (as the MIME parser would report them)."""

    def run(profile: Profile) -> list[Finding]:
        facts = MessageFacts(
            mail_from="hoant.stttt@example.gov.vn",
            rcpt_tos=("a@partner.gov.vn",),
            domains=DOMAINS,
            attachments=(Attachment("anh-hoi-nghi.zip", "application/zip", size),),
        )
        return run_rules(facts, profile, TRAFFIC_RULES)

    return run


def clamd_says(status: str) -> Callable[[Profile], list[Finding]]:
    def run(profile: Profile) -> list[Finding]:
        settings = Settings(domains=DOMAINS, profile=profile, limits=Limits())
        clean = evaluate(
            b"From: a@example.gov.vn\r\nSubject: x\r\n\r\nhi\r\n", "a@example.gov.vn", ("b@x.vn",), settings
        )
        result = AntivirusResult(status, signature="Eicar-Test-Signature", detail="too large for clamd")
        return list(with_antivirus(clean, result, settings).findings)

    return run


def rspamd_rejects_outbound(profile: Profile) -> list[Finding]:
    settings = Settings(domains=DOMAINS, profile=profile, limits=Limits())
    evaluation: Evaluation = evaluate(
        b"From: hoant.stttt@example.gov.vn\r\nSubject: Khuyen mai\r\n\r\nmua ngay\r\n",
        "hoant.stttt@example.gov.vn",
        ("a@partner.com",),
        settings,
    )
    scored, _ = with_spam_score(evaluation, SpamScore("reject", 25.0, 15.0, ["BAYES_SPAM"]), Rspamd(), settings)
    return list(scored.findings)


# ----------------------------------------------------------------------------- account scenarios
def box(**kw: object) -> MailboxFacts:
    base: dict[str, object] = {
        "address": "hoant.stttt@example.gov.vn",
        "display_name": "Nguyễn Thị Hoa",
        "unit": "stttt",
        "kind": "personal",
        "status": "active",
        "created_at": at(2024, 1, 2),
        "password_changed_at": at(2026, 11, 20),
        "last_login": at(2026, 12, 1),
    }
    base.update(kw)
    return MailboxFacts(**base)  # type: ignore[arg-type]


def every_working_day(*hours: int) -> dict[date, tuple[int, ...]]:
    end = NOW.date() - timedelta(days=1)
    return {
        d: tuple(int(datetime.combine(d, datetime.min.time(), TZ).replace(hour=h).timestamp()) for h in hours)
        for d in CAL.working_days(end - timedelta(days=40), end)
    }


def mailbox(facts: MailboxFacts, trusted: tuple[str, ...] = ()) -> Callable[[Profile], list[Finding]]:
    def run(profile: Profile) -> list[Finding]:
        accounts = load_profile(profile.name, trusted_networks=trusted).accounts if trusted else profile.accounts
        (report,) = evaluate_mailboxes([facts], accounts, NOW, CAL)
        return list(report.findings)

    return run


def request(kind: str, asked: datetime) -> Callable[[Profile], list[Finding]]:
    def run(profile: Profile) -> list[Finding]:
        facts = RequestFacts(7, kind, "hoant.stttt@example.gov.vn", "stttt", asked)
        return [f for r in evaluate_requests([facts], profile.accounts, NOW, CAL) for f in r.findings]

    return run


def yearly_report(profile: Profile) -> list[Finding]:
    return [profile.cite(f) for f in YearlyReportDue().check("stttt", profile.accounts, NOW, CAL)]


FAILURES = tuple(LoginFact(NOW - timedelta(minutes=i), f"198.51.100.{i}") for i in range(12))
SEPT = at(2026, 9, 1)
HEAD_CHANGED = HandoverChange("head", "Trần Văn A", "Lê Thị B", at(2026, 11, 16))
HOLDER_CHANGED = HandoverChange("holder", "Trần Văn A", "Lê Thị B", at(2026, 11, 16))


@dataclass(frozen=True)
class Scenario:
    rule: str
    name: str
    run: Callable[[Profile], list[Finding]]
    expected: dict[str, str | None]


def row(rule: str, name: str, run: Callable[[Profile], list[Finding]], **expected: str | None) -> Scenario:
    keyed = {p: expected.get(p.replace("-", "_")) for p in PROFILE_NAMES}
    return Scenario(rule, name, run, keyed)


SCENARIOS = [
    # -- traffic rules: DN-2022 alone has forwarding, executables, size, archives and macros
    row(
        "auto-forward-external",
        "sieve-redirect-to-gmail",
        sample("auto-forward-external", "sieve-redirect-to-gmail"),
        dn_2022="reject: DN-2022 Đ13.5",
    ),
    row(
        "executable-attachment",
        "exe-inside-zip",
        sample("executable-attachment", "exe-inside-zip"),
        dn_2022="reject: DN-2022 Đ12.6",
    ),
    row(
        "attachment-too-large",
        "31-mib-of-attachments",
        attachments_of(31 * 2**20),
        dn_2022="reject: DN-2022 Đ5.3",
    ),
    row("attachment-too-large", "a-1106-byte-photo", sample("attachment-too-large", "over-the-limit")),
    row("encrypted-archive", "aes-zip", sample("encrypted-archive", "aes-zip"), dn_2022="tag: DN-2022 Đ12.6"),
    row(
        "office-macro",
        "docm",
        sample("office-macro", "docm-by-name-and-content"),
        dn_2022="tag: DN-2022 Đ12.6, DN-2022 Đ12.5",
    ),
    row(
        "inspection-limit",
        "gzip-bomb",
        sample("inspection-limit", "gzip-bomb"),
        dn_2022="quarantine: DN-2022 Đ12.5, DN-2022 Đ13.2",
        lc_2015="quarantine: LC-2015 Đ11.6",
        bdi_2017="quarantine: BDi-2017 Đ2.4",
        bd_2005="quarantine: BD-2005 Đ7.6",
    ),
    row(
        "virus",
        "clamd-finds-eicar",
        clamd_says("infected"),
        dn_2022="reject: DN-2022 Đ13.2, DN-2022 Đ12.5",
        lc_2015="reject: LC-2015 Đ11.6, LC-2015 Đ11.7",
        bdi_2017="reject: BDi-2017 Đ2.4",
        bd_2005="reject: BD-2005 Đ7.6",
    ),
    row(
        "virus-unscanned",
        "too-large-for-clamd",
        clamd_says("unscanned"),
        dn_2022="tag: DN-2022 Đ12.5",
        lc_2015="tag: LC-2015 Đ11.6",
        bdi_2017="tag: BDi-2017 Đ2.4",
        bd_2005="tag: BD-2005 Đ7.6",
    ),
    row(
        "spam",
        "rspamd-rejects-outbound",
        rspamd_rejects_outbound,
        dn_2022="quarantine: DN-2022 Đ13.3, DN-2022 Đ16.3d",
        lc_2015="quarantine: LC-2015 Đ11.6, LC-2015 Đ11.7",
        bdi_2017="quarantine: BDi-2017 Đ7.3 ý 8",
        bd_2005="quarantine: BD-2005 Đ9.6, BD-2005 Đ7.5",
        dl_2006="quarantine: DL-2006 Đ7 ý 6",
    ),
    row(
        "classified-content",
        "subject-bracket-mat",
        sample("classified-content", "subject-bracket-mat"),
        dn_2022="quarantine: DN-2022 Đ13.7, DN-2022 Đ15.3",
        lc_2015="quarantine: LC-2015 Đ7.1, LC-2015 Đ7.2",
        bdi_2017="quarantine: BDi-2017 Đ2.2, BDi-2017 Đ6.2",
    ),
    row(
        "service-registration",
        "facebook-confirmation",
        sample("service-registration", "facebook-confirm-vi"),
        dn_2022="tag: DN-2022 Đ13.4",
    ),
    row(
        "public-provider-mailbox",
        "report-sent-to-own-gmail",
        sample("public-provider-mailbox", "report-sent-to-own-gmail"),
        bdi_2017="tag: BDi-2017 Đ11.4",
        bd_2005="tag: BD-2005 Đ11 đoạn 1",
    ),
    # -- account rules
    row(
        "forwarding-rule-external",
        "sieve-redirect-to-gmail",
        mailbox(box(forwards=("hoa.nguyen@gmail.com",))),
        dn_2022="enforce: DN-2022 Đ13.5",
    ),
    row(
        "inactive-mailbox",
        "four-months-without-login",
        mailbox(box(last_login=at(2026, 8, 1))),
        dn_2022="enforce: DN-2022 Đ8.1",
    ),
    row(
        "check-frequency",
        "unit-box-never-checked",
        mailbox(box(address="vanphong@example.gov.vn", kind="unit", login_times={})),
        dn_2022="enforce: DN-2022 Đ9.2, DN-2022 Đ11",
        lc_2015="enforce: LC-2015 Đ8.1",
        bdi_2017="enforce: BDi-2017 Đ8",
    ),
    # A Đắk Nông unit box: checked once every working day meets DN-2022 Đ9.2 ("hằng ngày").
    row(
        "check-frequency",
        "unit-box-checked-once-a-working-day",
        mailbox(box(address="vanphong@example.gov.vn", kind="unit", login_times=every_working_day(9))),
        lc_2015="enforce: LC-2015 Đ8.1",
        bdi_2017="enforce: BDi-2017 Đ8",
    ),
    # A Bình Định personal box: one check a day is enough in Lào Cai, not in Bình Định.
    row(
        "check-frequency",
        "personal-box-checked-once-a-working-day",
        mailbox(box(login_times=every_working_day(9))),
        bdi_2017="enforce: BDi-2017 Đ8",
    ),
    row(
        "check-frequency",
        "unit-box-checked-morning-and-afternoon",
        mailbox(box(address="vanphong@example.gov.vn", kind="unit", login_times=every_working_day(8, 14))),
    ),
    row(
        "unread-backlog",
        "unit-mail-unread-for-a-week",
        mailbox(box(address="vanphong@example.gov.vn", kind="unit", oldest_unseen=at(2026, 11, 25))),
        dn_2022="enforce: DN-2022 Đ9.2",
        lc_2015="advisory: LC-2015 Đ10.4, LC-2015 Đ8",
        bdi_2017="advisory: BDi-2017 Đ7.2 ý 3, BDi-2017 Đ8",
    ),
    row(
        "quota", "1100-mib-in-a-1-gb-box", mailbox(box(quota_used_bytes=1100 * 2**20)), dn_2022="enforce: DN-2022 Đ5.3"
    ),
    row(
        "password-age",
        "unchanged-for-four-months",
        mailbox(box(password_changed_at=at(2026, 8, 1))),
        dn_2022="enforce: DN-2022 Đ12.2",
    ),
    row(
        "first-login-password",
        "issued-password-still-in-use",
        mailbox(box(created_at=at(2026, 11, 2), password_changed_at=None)),
        dn_2022="enforce: DN-2022 Đ6.3",
        lc_2015="enforce: LC-2015 Đ11.1",
    ),
    row(
        "first-login-password",
        "used-after-a-reset-without-changing",
        mailbox(box(password_changed_at=at(2026, 10, 1), password_reset_at=at(2026, 11, 20))),
        dn_2022="enforce: DN-2022 Đ7.3",
    ),
    row(
        "departed-mailbox",
        "departed-three-weeks-ago",
        mailbox(box(status="departed", status_changed_at=at(2026, 11, 10))),
        dn_2022="enforce: DN-2022 Đ8.2, DN-2022 Đ14.5",
        lc_2015="advisory: LC-2015 Đ6.2b, LC-2015 Đ9.2",
        bdi_2017="advisory: BDi-2017 Đ12.3, BDi-2017 Đ12.2",
        bd_2005="advisory: BD-2005 Đ8.3, BD-2005 Đ6.3",
        dl_2006="advisory: DL-2006 Đ6 ý 2, DL-2006 Đ5.3",
    ),
    # Yesterday: still within DN-2022 Đ8.2's 5 days + 3 working days; the others set no deadline at all.
    row(
        "departed-mailbox",
        "departed-yesterday",
        mailbox(box(status="departed", status_changed_at=at(2026, 12, 1))),
        lc_2015="advisory: LC-2015 Đ6.2b, LC-2015 Đ9.2",
        bdi_2017="advisory: BDi-2017 Đ12.3, BDi-2017 Đ12.2",
        bd_2005="advisory: BD-2005 Đ8.3, BD-2005 Đ6.3",
        dl_2006="advisory: DL-2006 Đ6 ý 2, DL-2006 Đ5.3",
    ),
    # A Lào Cai address: right under LC-2015 Đ4.2; a wrong domain where a domain is fixed.
    row(
        "address-format",
        "lao-cai-staff-address",
        mailbox(box(address="nguyenthihoa-svhttdl@laocai.gov.vn", unit="vanphong")),
        dn_2022="enforce: DN-2022 Đ5.2a, DN-2022 Đ5.2b, DN-2022 Đ5.2c",
        bd_2005="advisory: BD-2005 Đ5 ý 1",
        dl_2006="advisory: DL-2006 Đ3",
    ),
    row(
        "address-format",
        "dak-nong-staff-address",
        mailbox(box(address="hoant.stttt@daknong.gov.vn")),
        lc_2015="advisory: LC-2015 Đ4.2 (lần 2)",
        bd_2005="advisory: BD-2005 Đ5 ý 1",
        dl_2006="advisory: DL-2006 Đ3",
    ),
    row(
        "address-format",
        "dak-nong-unit-box",
        mailbox(box(address="vp.stttt@daknong.gov.vn", display_name="Văn phòng", unit="vp.stttt", kind="unit")),
        lc_2015="advisory: LC-2015 Đ4.2 (lần 1)",
        bd_2005="advisory: BD-2005 Đ5 ý 1",
        dl_2006="advisory: DL-2006 Đ3",
    ),
    row(
        "address-format",
        "unit-box-named-otherwise-under-dak-nong",
        mailbox(box(address="vanphong@daknong.gov.vn", display_name="Văn phòng", unit="vp.stttt", kind="unit")),
        dn_2022="enforce: DN-2022 Đ5.1a, DN-2022 Đ5.1b, DN-2022 Đ5.1c",
        lc_2015="advisory: LC-2015 Đ4.2 (lần 1)",
        bd_2005="advisory: BD-2005 Đ5 ý 1",
        dl_2006="advisory: DL-2006 Đ3",
    ),
    row(
        "login-anomaly",
        "twelve-failed-logins",
        mailbox(box(recent_failures=FAILURES)),
        dn_2022="enforce: DN-2022 Đ12.8, DN-2022 Đ13.6",
        lc_2015="enforce: LC-2015 Đ11.5, LC-2015 Đ10.1",
        bdi_2017="enforce: BDi-2017 Đ2.3, BDi-2017 Đ11.1",
        bd_2005="enforce: BD-2005 Đ9.1, BD-2005 Đ9.5",
        dl_2006="enforce: DL-2006 Đ7 ý 1, DL-2006 Đ7 ý 5",
    ),
    # Outside the configured trusted networks: a limit in DN-2022 Đ12.3, site policy elsewhere.
    row(
        "login-anomaly",
        "login-from-outside-trusted-networks",
        mailbox(box(login_sources=frozenset({"203.113.1.5"})), trusted=("10.0.0.0/8",)),
        dn_2022="advisory: DN-2022 Đ12.8, DN-2022 Đ12.3",
        lc_2015="advisory: chính sách đơn vị / site policy (LC-2015: không quy định / no clause)",
        bdi_2017="advisory: chính sách đơn vị / site policy (BDi-2017: không quy định / no clause)",
        bd_2005="advisory: chính sách đơn vị / site policy (BD-2005: không quy định / no clause)",
        dl_2006="advisory: chính sách đơn vị / site policy (DL-2006: không quy định / no clause)",
    ),
    row(
        "unit-handover",
        "unit-head-changed-password-not",
        mailbox(box(address="vanphong@example.gov.vn", kind="unit", handover=HEAD_CHANGED, password_changed_at=SEPT)),
        lc_2015="advisory: LC-2015 Đ10.3",
        bd_2005="advisory: BD-2005 Đ10 đoạn 3",
        dl_2006="advisory: DL-2006 Đ8 ý 1",
    ),
    row(
        "unit-handover",
        "unit-box-holder-changed-password-not",
        mailbox(box(address="vanphong@example.gov.vn", kind="unit", handover=HOLDER_CHANGED, password_changed_at=SEPT)),
        dn_2022="advisory: DN-2022 Đ9.3",
        bdi_2017="advisory: BDi-2017 Đ7.2 ý 4",
    ),
    row(
        "unit-handover",
        "holder-changed-password-changed-after",
        mailbox(
            box(
                address="vanphong@example.gov.vn",
                kind="unit",
                handover=HOLDER_CHANGED,
                password_changed_at=at(2026, 11, 17),
            )
        ),
    ),
    row(
        "it-request-overdue",
        "restore-asked-a-week-ago",
        request("restore", at(2026, 11, 24)),
        dn_2022="enforce: DN-2022 Đ8.3",
    ),
    row("it-request-overdue", "reset-asked-yesterday", request("reset", at(2026, 12, 1))),
    row("yearly-report", "two-weeks-before-15-december", yearly_report, dn_2022="enforce: DN-2022 Đ14.6"),
]


def shown(finding: Finding, rule: str) -> str:
    if rule in TRAFFIC_RULE_IDS:
        return f"{finding.action}: {finding.citation}"
    return f"{'advisory' if finding.advisory else 'enforce'}: {finding.citation}"


@pytest.mark.parametrize(
    ("scenario", "name"),
    [(s, p) for s in SCENARIOS for p in PROFILE_NAMES],
    ids=[f"{s.rule}/{s.name}/{p}" for s in SCENARIOS for p in PROFILE_NAMES],
)
def test_each_regulation_demands_its_own_findings(scenario: Scenario, name: str) -> None:
    profile = load_profile(name)
    found = [f for f in scenario.run(profile) if f.rule == scenario.rule]
    expected = scenario.expected[name]
    if expected is None:
        assert found == [], f"{name} has no such demand, yet: {[shown(f, scenario.rule) for f in found]}"
        return
    assert found, f"{name}: expected {expected!r}, found nothing"
    assert {shown(f, scenario.rule) for f in found} == {expected}
    assert all(f.citation.startswith(profile.regulation.short_name) or "site policy" in f.citation for f in found)


def test_every_rule_meets_a_scenario_under_every_profile_that_has_it() -> None:
    covered = {s.rule for s in SCENARIOS}
    assert covered == set(RULE_IDS), sorted(set(RULE_IDS) - covered)
    for name in PROFILE_NAMES:
        profile = load_profile(name)
        for rule_id, policy in profile.rules.items():
            fires = any(s.expected[name] for s in SCENARIOS if s.rule == rule_id)
            assert fires == policy.enabled, f"{name} {rule_id}: on={policy.enabled}, a scenario fires={fires}"
