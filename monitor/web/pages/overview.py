"""Today at a glance: findings by rule and unit, the last two weeks as a chart, the quarantine, held
senders, mailboxes by state (as last evaluated), and the health of what mailmon depends on."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from exporters.reports.report import STATE_VI, bar_chart
from monitor.web.auth import Principal, member, now_utc
from monitor.web.state import web_state
from rules.catalogue import rule_catalogue

DAYS_CHARTED = 14


@cache
def rule_titles() -> dict[str, tuple[str, str]]:
    """rule id → (Vietnamese title, English title)."""
    return {rule_id: (r.title.vi, r.title.en) for rule_id, r in rule_catalogue().items()}


def title(rule: str) -> tuple[str, str]:
    return rule_titles().get(rule, (rule, rule))


@member
async def overview(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    config = state.config()
    tz = ZoneInfo(config.organization.timezone)
    today = datetime.now(tz).date()
    first_day = today - timedelta(days=DAYS_CHARTED - 1)
    scope, now = principal.scope, now_utc()
    first, last = first_day.isoformat(), today.isoformat()
    if scope is None:  # the totals over two weeks, and today's rows of every unit
        totals = await state.read(lambda c: c.finding_counts(first, last, ["*"]))
        counts = totals | await state.read(lambda c: c.finding_counts(last, last, None))
    else:
        counts = await state.read(lambda c: c.finding_counts(first, last, scope))
    held = await state.read(lambda c: c.held_totals(scope))
    senders = await state.read(lambda c: len(c.held_senders(now, scope)))
    states = await state.read(lambda c: c.mailbox_counts(scope, "state"))
    box_rules = await state.read(lambda c: c.mailbox_counts(scope, "rule"))
    evaluated = await state.read(lambda c: c.mailbox_view_evaluated_at())
    names = await state.read(lambda c: c.unit_names(scope))
    # Administrators' totals count each finding once (unit "*"); a contact's add up their units.
    by_rule: Counter[str] = Counter()
    per_day: Counter[str] = Counter()
    today_counts: Counter[tuple[str, str]] = Counter()
    for (day, unit, rule), n in counts.items():
        if (unit == "*") == (scope is None):
            per_day[day] += n
            if day == today.isoformat():
                by_rule[rule] += n
        if unit != "*" and day == today.isoformat():
            today_counts[(rule, unit)] += n
    by_unit: Counter[str] = Counter()
    for (_, unit), n in today_counts.items():
        by_unit[unit] += n
    days = [first_day + timedelta(days=i) for i in range(DAYS_CHARTED)]
    day_values = [per_day.get(d.isoformat(), 0) for d in days]
    state_totals: Counter[str] = Counter()
    for (_, name), n in states.items():
        state_totals[name] += n
    rule_totals: Counter[str] = Counter()
    for (_, name), n in box_rules.items():
        rule_totals[name] += n
    rules_today = by_rule.most_common()
    return state.page(
        request,
        "overview.html.j2",
        today=today,
        rules_today=[(rule, *title(rule), n) for rule, n in rules_today],
        units_today=[(unit, names.get(unit, unit), n) for unit, n in by_unit.most_common(20)],
        unit_rule=sorted(today_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:50],
        names=names,
        rules_chart=bar_chart(
            [n for _, n in rules_today[:12]],
            [r[:14] for r, _ in rules_today[:12]],
            "Vi phạm hôm nay theo quy tắc / Findings today by rule",
        )
        if rules_today
        else None,
        days_chart=bar_chart(
            day_values,
            [f"{d:%d/%m}" for d in days],
            f"Vi phạm {DAYS_CHARTED} ngày qua / Findings, last {DAYS_CHARTED} days",
        ),
        held=held,
        senders=senders,
        states=[(s, STATE_VI.get(s, s), n) for s, n in state_totals.most_common()],
        box_rules=[(rule, *title(rule), n) for rule, n in rule_totals.most_common()],
        evaluated=evaluated,
        health=sorted(state.health().items()),
    )
