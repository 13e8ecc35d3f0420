"""The rule × profile table of the README, written from the profiles themselves (a test keeps the README's
copy equal to it): for each rule and each regulation, off, or on (enforce / advisory) with the values the
regulation states and the clauses it rests on.

``python -m rules.profile_table`` prints it.
"""

from __future__ import annotations

from rules.base import Cite
from rules.profile import PROFILE_NAMES, RULE_IDS, Profile, load_profile
from rules.regulation import Deadline


def _deadline(deadline: Deadline | None) -> str:
    if deadline is None:
        return "no deadline"
    return f"{deadline.days} {'wd' if deadline.day_kind == 'working' else 'd'}"


def _clause(cite: Cite) -> str:
    return str(cite).removeprefix(cite.doc + " ")


def values(profile: Profile, rule_id: str) -> str:
    """What the regulation states for one rule, in a few words ("" where the rule takes no number)."""
    a = profile.accounts
    if rule_id == "attachment-too-large":
        return f"{profile.attachment_max_bytes:,} B"
    if rule_id == "inactive-mailbox":
        return f"{a.inactive_months} months; removal {_deadline(a.removal)} after the notice"
    if rule_id == "check-frequency":
        parts = []
        for kind, target in a.check_targets.items():
            window = {"any": "", "working-hours": " in hours", "morning-afternoon": " morning+afternoon"}[target.window]
            stated = f" (“{target.stated}”)" if target.stated else ""
            parts.append(f"{kind} {target.checks}/wd{stated}{window}")
        return ", ".join(parts)
    if rule_id == "unread-backlog":
        return f"{a.unread_backlog_working_days} wd ({', '.join(sorted(a.unread_backlog_kinds))})"
    if rule_id == "quota":
        most = f", ≤ {a.quota_max_exception_mb:,} MB on request" if a.quota_max_exception_mb else ""
        return f"{a.quota_mb:,} MB{most}"
    if rule_id == "password-age":
        return f"user {a.password_max_months_user} mo, admin {a.password_max_months_admin} mo"
    if rule_id == "first-login-password":
        return " and ".join(
            w for w, on in (("on issue", a.first_login_on_issue), ("after a reset", a.first_login_after_reset)) if on
        )
    if rule_id == "departed-mailbox":
        if a.departed_request is None and a.departed_close is None:
            return "no deadline"
        return f"ask {_deadline(a.departed_request)}, close {_deadline(a.departed_close)}"
    if rule_id == "address-format":
        forms = ", ".join(f"{kind} `{form}`" for kind, form in a.address_patterns.items())
        return f"@{' / @'.join(a.address_domains)}" + (f"; {forms}" if forms else "")
    if rule_id == "login-anomaly":
        return f"outside trusted networks: {a.outside_trusted}"
    if rule_id == "unit-handover":
        kinds = ", ".join(sorted(a.handover_kinds))
        return f"{a.handover_trigger} changes; {kinds}; {_deadline(a.handover_password_change)}"
    if rule_id == "it-request-overdue":
        return ", ".join(f"{kind} {_deadline(d)}" for kind, d in a.request_deadlines.items())
    if rule_id == "yearly-report" and a.yearly_report is not None:
        r = a.yearly_report
        return f"{'by' if r.inclusive else 'before'} {r.day:02d}/{r.month:02d}"
    return ""


def cell(profile: Profile, rule_id: str) -> str:
    policy = profile.rules[rule_id]
    if not policy.enabled:
        return "off"
    mark = "**E**" if policy.mode == "enforce" else "**A**"
    stated = values(profile, rule_id)
    clauses = ", ".join(dict.fromkeys(_clause(c) for c in policy.cites))
    return f"{mark} {stated + ' — ' if stated else ''}{clauses}"


def markdown() -> str:
    profiles = [load_profile(name) for name in PROFILE_NAMES]
    lines = [
        "| rule | " + " | ".join(p.regulation.short_name for p in profiles) + " |",
        "|---" * (len(profiles) + 1) + "|",
    ]
    for rule_id in RULE_IDS:
        lines.append(f"| {rule_id} | " + " | ".join(cell(p, rule_id).replace("|", "\\|") for p in profiles) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
