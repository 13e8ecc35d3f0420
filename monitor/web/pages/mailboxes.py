"""Mailboxes (state, last login, checks per working day, findings; by unit and state) and held senders.

The mailboxes are shown as last evaluated in the background (monitor/web/summaries.py): the
account rules over a hundred thousand mailboxes take seconds, a page must take milliseconds.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exporters.reports.report import STATE_VI
from monitor.smtp import sending_windows
from monitor.web.auth import Principal, member, now_utc
from monitor.web.pages.overview import title
from monitor.web.pages.quarantine import MAX_REASON
from monitor.web.state import web_state

log = logging.getLogger("mailmon.web")


@member
async def mailboxes(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    unit = request.query_params.get("unit", "").strip()[:100] or None
    chosen = request.query_params.get("state", "").strip()
    chosen = chosen if chosen in STATE_VI else ""
    after = request.query_params.get("after", "").strip().lower()[:254] or None
    scope = principal.scope
    allowed = unit is None or principal.units is None or unit in principal.units
    rows = (
        await state.read(lambda c: c.mailbox_page(scope, unit=unit, state=chosen or None, after=after))
        if allowed
        else []
    )
    counts = await state.read(lambda c: c.mailbox_counts(scope, "state"))
    by_state: Counter[str] = Counter()
    for (u, name), n in counts.items():
        if unit is None or u == unit:
            by_state[name] += n
    names = await state.read(lambda c: c.unit_names(scope))
    evaluated = await state.read(lambda c: c.mailbox_view_evaluated_at())
    for row in rows:
        row["finding_titles"] = [(f, *title(f["rule"])) for f in row["findings"]]
    return state.page(
        request,
        "mailboxes.html.j2",
        rows=rows,
        unit=unit or "",
        state_filter=chosen,
        states=STATE_VI,
        by_state=by_state,
        names=names,
        evaluated=evaluated,
        more=rows[-1]["address"] if len(rows) == 50 else None,
    )


@member
async def senders(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    now = now_utc()
    rows = await state.read(lambda c: c.held_senders(now, principal.scope))
    names = await state.read(lambda c: c.unit_names(principal.scope))
    return state.page(request, "senders.html.j2", rows=rows, names=names)


@member
async def sender_release(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    form = await request.form()
    sender = str(form.get("sender", "")).strip().lower()[:254]
    reason = str(form.get("reason", "")).strip()[:MAX_REASON]
    now = now_utc()
    held = await state.read(lambda c: c.held_senders(now, principal.scope))
    row = next((r for r in held if r["sender"].lower() == sender), None)
    if row is None:
        return state.page(request, "error.html.j2", status=404, reason="notfound")
    if not reason:
        return state.page(request, "error.html.j2", status=400, reason="why", qid="")
    units = [row["unit"]] if row["unit"] else []
    async with state.actions:
        released = await state.store.call(lambda s: sending_windows.release_sender(s, sender, datetime.now(UTC)))
        result = "released" if released else "not held any more"
        await state.records(
            lambda r: r.record_action(now_utc(), principal.address, "release-sender", sender, units, reason, result)
        )
    log.info("console: %s released sender %s: %s", principal.address, sender, result)
    return RedirectResponse("/senders", status_code=303)
