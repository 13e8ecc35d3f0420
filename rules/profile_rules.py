"""The ``[rules.<id>]`` tables of a profile: on or off, enforce or advisory, the clauses, and the values
each rule takes (a deadline, a target per kind of mailbox, an address template…)."""

from __future__ import annotations

import re
from typing import Any

from rules.base import Cite
from rules.profile_schema import Reader
from rules.regulation import KINDS, WINDOWS, CheckTarget, Deadline, RulePolicy

REQUEST_KINDS = ("create", "change", "reset", "close", "restore")
# Address templates: lower-case ASCII, digits, ".", "-" and these placeholders (rules/address_format.py).
PLACEHOLDERS = ("unit", "given", "initials", "fullname", "username")
_TEMPLATE = re.compile(r"^(?:[a-z0-9.\-]|\{(?:" + "|".join(PLACEHOLDERS) + r")\})+$")


def read_policy(rule_id: str, table: Reader, doc: str, switch: bool | None) -> RulePolicy:
    """The rule's status under the profile, then config.toml's switch (``[rules.<id>] enabled``)."""
    enabled = table.boolean("enabled", required=True)
    mode = table.text("mode", ("enforce", "advisory"), required=bool(enabled)) or "enforce"
    cites = tuple(_read_cites(table, doc))
    if enabled and not cites and not table.partial:
        table.error("cites", "a rule the regulation has cites at least one clause")
    if not enabled and cites:
        table.error("cites", "a rule the regulation does not have cites nothing")
    regulation_has_it = bool(enabled)
    if switch is None or switch == regulation_has_it:
        return RulePolicy(rule_id, regulation_has_it, "advisory" if mode == "advisory" else "enforce", cites)
    if switch:
        return RulePolicy(rule_id, True, "enforce", (), site_policy=True)
    return RulePolicy(rule_id, False, "advisory" if mode == "advisory" else "enforce", cites)


def _read_cites(table: Reader, doc: str) -> list[Cite]:
    table.used.add("cites")
    raw = table.data.get("cites", [])
    if not isinstance(raw, list):
        table.error("cites", "expected a list of clauses")
        return []
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            table.error(f"cites.{i}", "expected a table { article = N, clause = M, … }")
            continue
        c = Reader(item, table.where(f"cites.{i}"), table.errors)
        article = c.integer("article", 1, required=True)
        point = c.text("point")
        cite_fields = {k: c.integer(k, 1) for k in ("clause", "bullet", "paragraph", "occurrence")}
        decision = bool(c.boolean("decision"))
        aspects = c.texts("aspects") or ()
        titles = (c.text("title_vi", required=True), c.text("title_en", required=True), c.text("quote", required=True))
        c.done()
        if article is None or None in titles:
            continue
        title_vi, title_en, quote = (str(t) for t in titles)
        out.append(
            Cite(
                doc,
                article,
                point=point,
                decision=decision,
                aspects=aspects,
                title_vi=title_vi,
                title_en=title_en,
                quote=quote,
                **cite_fields,
            )
        )
    return out


def read_deadline(table: Reader, key: str, required: bool = False) -> Deadline | None:
    inner = table.subtable(key, required)
    return None if inner is None else deadline_of(inner)


def deadline_of(inner: Reader) -> Deadline | None:
    """``{ days = N, day_kind = "working" | "calendar", from = "what starts the clock" }``."""
    days = inner.integer("days", 1, required=True)
    kind = inner.text("day_kind", ("working", "calendar"), required=True)
    start = inner.text("from", required=True)
    inner.done()
    if days is None or kind is None or start is None:
        return None
    return Deadline(days, "working" if kind == "working" else "calendar", start)


def account_values(rule_id: str, t: Reader, partial: bool) -> dict[str, Any]:
    """The values of one rule's table (every other key of it is an error); nothing is required when
    ``partial`` (config.toml's overrides, or a rule the profile has off)."""
    need = not partial and not t.partial
    out: dict[str, Any] = {}
    if rule_id == "attachment-too-large":
        out["max_bytes"] = t.integer("max_bytes", 1, need)
    elif rule_id == "inactive-mailbox":
        out["months"] = t.integer("months", 1, need)
        out["removal"] = read_deadline(t, "removal", need)
    elif rule_id == "check-frequency":
        targets = {}
        for kind, r in t.tables("targets", KINDS, need).items():
            checks, window = r.integer("checks", 1, not r.partial), r.text("window", WINDOWS, not r.partial)
            stated = r.text("stated") or ""
            r.done()
            if checks is not None and window is not None:
                targets[kind] = CheckTarget(checks, window, stated)  # type: ignore[arg-type]
        out["targets"] = targets
    elif rule_id == "unread-backlog":
        out["working_days"] = t.integer("working_days", 1, need)
        out["kinds"] = t.texts("kinds", KINDS, need)
    elif rule_id == "quota":
        out["quota_mb"] = t.integer("quota_mb", 1, need)
        out["max_exception_mb"] = t.integer("max_exception_mb", 1)
        if out["quota_mb"] and out["max_exception_mb"] and out["max_exception_mb"] < out["quota_mb"]:
            t.error("max_exception_mb", f"is below quota_mb ({out['quota_mb']})")
    elif rule_id == "password-age":
        out["max_months_user"] = t.integer("max_months_user", 1)
        out["max_months_admin"] = t.integer("max_months_admin", 1)
        if need and out["max_months_user"] is None and out["max_months_admin"] is None:
            t.error("max_months_user", "required (or max_months_admin)")
    elif rule_id == "first-login-password":
        out["on_issue"] = t.boolean("on_issue")
        out["after_reset"] = t.boolean("after_reset")
        if need and not (out["on_issue"] or out["after_reset"]):
            t.error("on_issue", "on_issue or after_reset must be true when the rule is on")
    elif rule_id == "departed-mailbox":
        out["triggers"] = t.texts("triggers")
        out["request"] = read_deadline(t, "request")
        out["close"] = read_deadline(t, "close")
    elif rule_id == "address-format":
        out["domains"] = t.texts("domains", required=need)
        out["namesake_digits"] = t.boolean("namesake_digits")
        patterns = t.subtable("patterns")
        if patterns is not None:
            out["patterns"] = {k: v for k in KINDS if (v := patterns.text(k)) is not None}
            for kind, template in out["patterns"].items():
                if not _TEMPLATE.match(template):
                    patterns.error(kind, f"{template!r}: only a-z 0-9 . - and {{{'}, {'.join(PLACEHOLDERS)}}}")
            patterns.done()
    elif rule_id == "login-anomaly":
        out["outside_trusted"] = t.text("outside_trusted", ("enforce", "advisory", "off"))
    elif rule_id == "it-request-overdue":
        deadlines = {kind: deadline_of(r) for kind, r in t.tables("deadlines", REQUEST_KINDS).items()}
        out["deadlines"] = {kind: d for kind, d in deadlines.items() if d is not None}
    elif rule_id == "unit-handover":
        out["trigger"] = t.text("trigger", ("head", "holder"), need)
        out["kinds"] = t.texts("kinds", KINDS, need)
        out["password_change"] = read_deadline(t, "password_change")
    elif rule_id == "yearly-report":
        out["month"] = t.integer("month", 1, need)
        out["day"] = t.integer("day", 1, need)
        out["inclusive"] = t.boolean("inclusive")
        out["recipient_vi"] = t.text("recipient_vi", required=need)
        out["content_vi"] = t.text("content_vi", required=need)
        if out["month"] and out["day"] and (out["month"] > 12 or out["day"] > 28 + (out["month"] != 2) * 2):
            t.error("day", f"{out['day']}/{out['month']} is not a day of every year")
    return out
