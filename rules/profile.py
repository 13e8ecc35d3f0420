"""A profile: one regulation as data (rules/profiles/<name>.toml over rules/profiles/shared.toml).

It says which rules the regulation has at all, how strictly (enforce or advisory), on which clauses,
and every number, target and deadline it states; where it states none, the value is absent and the
rule is off or runs without a deadline. config.toml picks a profile (``[profile] name``), overrides
values (``[profile.overrides]``, the same tables as the profile file) and switches rules on or off
(``[rules.<id>] enabled``); a rule it switches on where the regulation is silent cites site policy.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from rules.base import Finding
from rules.mailbox_facts import AccountProfile
from rules.profile_rules import account_values, read_policy
from rules.profile_schema import ProfileError, Reader, deep_merge, nfc
from rules.regulation import Regulation, RulePolicy, WorkingHours, cite_finding

PROFILE_NAMES = ("dn-2022", "lc-2015", "bdi-2017", "bd-2005", "dl-2006")
# Every rule a profile switches on or off, in the order of the README's table.
TRAFFIC_RULE_IDS = (
    "auto-forward-external",
    "executable-attachment",
    "attachment-too-large",
    "encrypted-archive",
    "office-macro",
    "inspection-limit",
    "virus",
    "virus-unscanned",
    "spam",
    "classified-content",
    "service-registration",
    "public-provider-mailbox",
)
ACCOUNT_RULE_IDS = (
    "forwarding-rule-external",
    "inactive-mailbox",
    "check-frequency",
    "unread-backlog",
    "quota",
    "password-age",
    "first-login-password",
    "departed-mailbox",
    "address-format",
    "login-anomaly",
    "unit-handover",
    "it-request-overdue",
    "yearly-report",
)
RULE_IDS = TRAFFIC_RULE_IDS + ACCOUNT_RULE_IDS
# Keys of [profile.overrides] that are not values: switching is [rules.<id>] enabled in config.toml.
_NOT_OVERRIDABLE = {
    "enabled": "switch rules with [rules.<id>] enabled",
    "mode": "a rule's mode is the regulation's",
    "cites": "citations are the regulation's",
}


@dataclass(frozen=True)
class Profile:
    """What the traffic rules read (picklable: it goes to the filter's worker processes), and the
    account rules' part in ``accounts``."""

    regulation: Regulation
    rules: Mapping[str, RulePolicy]
    attachment_max_bytes: int | None
    executable_extensions: frozenset[str]
    executable_types: frozenset[str]
    # classified-content: stamps strongest first, as written (upper case); labels such as "Độ mật";
    # words that, after "mật"/"mat", make an ordinary word ("mật khẩu", "mat bang") and not a stamp.
    classified_stamps: tuple[str, ...]
    classified_labels: tuple[str, ...]
    classified_false_friends: frozenset[str]
    # service-registration: sending domain → service name (shipped, and added by config), and the
    # sign-up / confirmation wording looked for in the subject and in the body.
    service_domains: tuple[tuple[str, str], ...]
    service_domains_extra: tuple[tuple[str, str], ...]
    registration_subject_phrases: tuple[str, ...]
    registration_body_phrases: tuple[str, ...]
    # public-provider-mailbox: free-mail providers (a subdomain counts).
    public_provider_domains: tuple[str, ...]
    accounts: AccountProfile

    @property
    def name(self) -> str:
        return self.regulation.name

    def in_force(self, rule_id: str) -> bool:
        policy = self.rules.get(rule_id)
        return policy is not None and policy.enabled

    def cite(self, finding: Finding) -> Finding:
        """The finding with this regulation's clauses (rules leave them empty)."""
        return cite_finding(finding, self.rules, self.regulation)


@cache
def _shipped(name: str) -> dict[str, Any]:
    text = resources.files("rules").joinpath("profiles", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def shipped_profile_data(name: str) -> dict[str, Any]:
    """The profile's own file over shared.toml, as TOML data (no overrides)."""
    if name not in PROFILE_NAMES:
        raise KeyError(name)
    return deep_merge(_shipped("shared"), _shipped(name))


def load_profile(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    switches: Mapping[str, bool] | None = None,
    trusted_networks: tuple[str, ...] = (),
    overrides_path: str = "profile.overrides",
) -> Profile:
    """A shipped profile with config.toml's overrides and rule switches; raises KeyError for an unknown
    name and ProfileError (every problem with its TOML path) for bad overrides."""
    data = shipped_profile_data(name)
    errors: list[str] = []
    if overrides:
        _check_overrides(overrides, overrides_path, errors)
        data = deep_merge(data, overrides)
    if errors:
        raise ProfileError(errors)
    profile = _build(data, name, switches or {}, trusted_networks, errors)
    if errors or profile is None:
        # A shipped profile builds (the tests load every one): what fails is what config.toml changed.
        prefix = f"{overrides_path}." if overrides or switches else ""
        raise ProfileError([prefix + e for e in errors] or [f"{name}: cannot be built"])
    return profile


def check_overrides(name: str, overrides: Mapping[str, Any], switches: Mapping[str, bool]) -> list[str]:
    """Every problem of config.toml's overrides and switches against profile ``name`` (no exception)."""
    try:
        load_profile(name, overrides, switches)
    except ProfileError as exc:
        return exc.errors
    return []


def _check_overrides(overrides: Mapping[str, Any], path: str, errors: list[str]) -> None:
    """Overrides alone, read as a partial profile: wrong types and unknown keys, by their path."""
    top = Reader(overrides, path, errors, partial=True)
    _read_lists(top, partial=True)
    _read_tuning(top, partial=True)
    rules = top.subtable("rules")
    if rules is not None:
        for rule_id in rules.data:
            rules.used.add(rule_id)
            if rule_id not in RULE_IDS:
                rules.error(rule_id, f"unknown rule id; known: {', '.join(RULE_IDS)}")
                continue
            table = rules.subtable(rule_id)
            if table is None:
                continue
            for key, why in _NOT_OVERRIDABLE.items():
                if table.has(key):
                    table.used.add(key)
                    table.error(key, f"cannot be overridden ({why})")
            account_values(rule_id, table, partial=True)
            table.done()
        rules.done()
    top.done()


def _build(
    data: Mapping[str, Any],
    name: str,
    switches: Mapping[str, bool],
    trusted_networks: tuple[str, ...],
    errors: list[str],
) -> Profile | None:
    top = Reader(data, "", errors)
    regulation = _read_regulation(top, name)
    lists = _read_lists(top, partial=False)
    policies: dict[str, RulePolicy] = {}
    values: dict[str, dict[str, Any]] = {}
    rules = top.subtable("rules", required=True)
    if rules is None or regulation is None:
        return None
    for rule_id in RULE_IDS:
        table = rules.subtable(rule_id)
        if table is None:
            rules.error(rule_id, "missing: every profile switches every rule on or off")
            continue
        policy = read_policy(rule_id, table, regulation.short_name, switches.get(rule_id))
        policies[rule_id] = policy
        read = account_values(rule_id, table, partial=not policy.enabled or policy.site_policy)
        values[rule_id] = read if policy.enabled else {}  # an off rule's values are read (checked), not used
        if policy.site_policy:
            # Switched on by config.toml where the regulation is silent: its numbers must come from there.
            for missing in _missing_values(rule_id, values[rule_id]):
                errors.append(
                    f"rules.{rule_id}.{missing}: required: [rules.{rule_id}] is switched on, "
                    f"and {regulation.short_name} states no value"
                )
        table.done()
    rules.done()
    tuning, warn_ratio, hours = _read_tuning(top, partial=False)
    top.done()
    if errors or hours is None or warn_ratio is None:
        return None
    accounts = AccountProfile(
        regulation=regulation,
        rules=policies,
        working_hours=hours,
        quota_warn_ratio=warn_ratio,
        trusted_networks=trusted_networks,
        **{k: v for k, v in tuning.items() if v is not None},
        **_account_fields(values),
    )
    return Profile(
        regulation=regulation,
        rules=policies,
        attachment_max_bytes=values["attachment-too-large"].get("max_bytes"),
        accounts=accounts,
        **lists,
    )


_TUNING = (
    "check_session_gap_minutes",
    "failed_logins_threshold",
    "failed_logins_window_minutes",
    "networks_threshold",
    "networks_window_minutes",
    "report_reminder_working_days",
)


def _read_tuning(top: Reader, partial: bool) -> tuple[dict[str, Any], float | None, WorkingHours | None]:
    """[detection] (mailmon's own thresholds) and [working_hours] (the site's office hours)."""
    tuning: dict[str, Any] = {}
    warn_ratio, hours = None, None
    detection = top.subtable("detection", required=not partial)
    if detection is not None:
        tuning = {key: value for key in _TUNING if (value := detection.integer(key, 1, not partial)) is not None}
        warn_ratio = detection.number("quota_warn_ratio", 0.01, 1.0, required=not partial)
        detection.done()
    table = top.subtable("working_hours", required=not partial)
    if table is not None:
        morning = table.clock_span("morning", required=not partial)
        afternoon = table.clock_span("afternoon", required=not partial)
        if morning and afternoon:
            if morning[1] > afternoon[0]:
                table.error("afternoon", "starts before the morning session ends")
            else:
                hours = WorkingHours(morning, afternoon)
        table.done()
    return tuning, warn_ratio, hours


def _read_regulation(top: Reader, name: str) -> Regulation | None:
    table = top.subtable("regulation", required=True)
    if table is None:
        return None
    fields = {
        key: table.text(key, required=True)
        for key in ("name", "short_name", "issuer_vi", "issuer_en", "number", "title_vi", "title_en", "document")
    }
    issued = table.day("date", required=True)
    table.done()
    if fields["name"] != name:
        table.error("name", f"is {fields['name']!r} in the file named {name}.toml")
    if issued is None or any(v is None for v in fields.values()):
        return None
    return Regulation(date=issued, **{k: str(v) for k, v in fields.items()})


def _read_lists(top: Reader, partial: bool) -> dict[str, Any]:
    table = top.subtable("lists", required=not partial)
    if table is None:
        return {}
    out: dict[str, Any] = {}
    for key in ("executable_extensions", "executable_types", "classified_false_friends"):
        value = table.texts(key, required=not partial)
        if value is not None:
            out[key] = frozenset(v.lower() for v in value)
    for key in ("classified_stamps", "classified_labels", "registration_subject_phrases", "registration_body_phrases"):
        value = table.texts(key, required=not partial)
        if value is not None:
            out[key] = value
    providers = table.texts("public_provider_domains", required=not partial)
    if providers is not None:
        out["public_provider_domains"] = tuple(sorted({p.lower().rstrip(".") for p in providers}))
    for key in ("service_domains", "service_domains_extra"):
        out[key] = _domain_names(table, key, required=key == "service_domains" and not partial)
    table.done()
    return out


def _domain_names(table: Reader, key: str, required: bool) -> tuple[tuple[str, str], ...]:
    """A table ``domain = "Service"`` (or a plain list of domains) as sorted (domain, name) pairs."""
    table.used.add(key)
    value = table.data.get(key)
    if value is None:
        if required:
            table.error(key, "required")
        return ()
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        pairs = [(v, v) for v in value]
    else:
        table.error(key, f'expected a table "domain" = "Service name", or a list of domains (got {value!r})')
        return ()
    return tuple(sorted((nfc(k).lower().rstrip("."), nfc(v)) for k, v in pairs))


_REQUIRED_WHEN_ON = {
    "attachment-too-large": ("max_bytes",),
    "inactive-mailbox": ("months", "removal"),
    "check-frequency": ("targets",),
    "unread-backlog": ("working_days", "kinds"),
    "quota": ("quota_mb",),
    "address-format": ("domains",),
    "unit-handover": ("trigger", "kinds"),
    "yearly-report": ("month", "day", "recipient_vi", "content_vi"),
}


def _missing_values(rule_id: str, values: Mapping[str, Any]) -> list[str]:
    return [key for key in _REQUIRED_WHEN_ON.get(rule_id, ()) if not values.get(key)]


def _account_fields(values: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The AccountProfile fields from each rule's values (an absent value keeps the field's None)."""
    from rules.regulation import YearlyReport

    v = values
    report = v["yearly-report"]
    fields: dict[str, Any] = {
        "inactive_months": v["inactive-mailbox"].get("months"),
        "removal": v["inactive-mailbox"].get("removal"),
        "departed_request": v["departed-mailbox"].get("request"),
        "departed_close": v["departed-mailbox"].get("close"),
        "check_targets": v["check-frequency"].get("targets") or {},
        "unread_backlog_working_days": v["unread-backlog"].get("working_days"),
        "unread_backlog_kinds": frozenset(v["unread-backlog"].get("kinds") or ()),
        "quota_mb": v["quota"].get("quota_mb"),
        "quota_max_exception_mb": v["quota"].get("max_exception_mb"),
        "password_max_months_user": v["password-age"].get("max_months_user"),
        "password_max_months_admin": v["password-age"].get("max_months_admin"),
        "first_login_on_issue": bool(v["first-login-password"].get("on_issue")),
        "first_login_after_reset": bool(v["first-login-password"].get("after_reset")),
        "address_domains": tuple(d.lower() for d in v["address-format"].get("domains") or ()),
        "address_patterns": v["address-format"].get("patterns") or {},
        "address_namesake_digits": bool(v["address-format"].get("namesake_digits")),
        "outside_trusted": v["login-anomaly"].get("outside_trusted") or "off",
        "request_deadlines": v["it-request-overdue"].get("deadlines") or {},
        "handover_trigger": v["unit-handover"].get("trigger"),
        "handover_kinds": frozenset(v["unit-handover"].get("kinds") or ()),
        "handover_password_change": v["unit-handover"].get("password_change"),
    }
    if all(report.get(k) is not None for k in ("month", "day", "recipient_vi", "content_vi")):
        fields["yearly_report"] = YearlyReport(
            report["month"], report["day"], bool(report.get("inclusive")), report["recipient_vi"], report["content_vi"]
        )
    return fields
