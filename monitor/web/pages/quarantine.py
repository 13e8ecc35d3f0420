"""The quarantine: the list (filters, newest first, page by page), one message (headers, findings with
their clauses, the attachment tree, what it says), and release or delete with a reason.

A message belongs to the units of the local mailboxes it is from or to; someone else's message id
answers 404, exactly as an id that does not exist. Releasing the kept copy of a rejected message
(its sender was told it was not delivered) needs the explicit choice and a reason, as the CLI's
``--rejected-copy --reason`` does. Each release is recorded twice: in the quarantine's own releases
(as `mailmon quarantine release` records them) and in the console's audit trail.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitor.inspect.limits import Limits
from monitor.inspect.mime import ParsedMessage, parse_message
from monitor.smtp.reinject import ReinjectError
from monitor.store import Store
from monitor.web.auth import Principal, member, now_utc
from monitor.web.pages.overview import title
from monitor.web.state import WebState, web_state

log = logging.getLogger("mailmon.web")

STATUSES = ("held", "rejected", "released", "deleted")
QID = re.compile(r"^[0-9A-Za-z-]{1,40}$")
MAX_REASON = 500
BODY_CHARS = 20_000


def _cursor(text: str | None) -> tuple[str, str] | None:
    if not text or len(text) > 100 or "|" not in text:
        return None
    when, _, qid = text.partition("|")
    return (when, qid) if QID.match(qid) else None


@member
async def quarantine_list(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    asked = request.query_params.get("status", "held")
    status = asked if asked in STATUSES else None  # "all" and anything unknown: every status
    address = request.query_params.get("address", "").strip().lower()[:254] or None
    unit = request.query_params.get("unit", "").strip()[:100] or None
    scope = principal.scope
    if unit is not None:
        scope = [unit] if principal.units is None or unit in principal.units else []
    before = _cursor(request.query_params.get("before"))
    rows = (
        []
        if scope == []
        else await state.read(lambda c: c.quarantine_page(scope, status=status, address=address, before=before))
    )
    names = await state.read(lambda c: c.unit_names(principal.scope))
    more = f"{rows[-1]['time']}|{rows[-1]['id']}" if len(rows) == 50 else None
    return state.page(
        request,
        "quarantine.html.j2",
        rows=rows,
        status_filter=status or "all",
        address=address or "",
        unit=unit or "",
        names=names,
        more=more,
        statuses=STATUSES,
    )


async def _visible(state: WebState, principal: Principal, qid: str) -> tuple[dict[str, Any], set[str]] | None:
    """The entry and its units, or None when it does not exist or is not this person's to see."""
    if not QID.match(qid):
        return None
    entry = await state.read(lambda c: c.quarantine_entry(qid))
    if entry is None:
        return None
    units = await state.read(lambda c: c.quarantine_units(qid))
    return (entry, units) if principal.may_see(units) else None


def _not_found(request: Request) -> Response:
    return web_state(request).page(request, "error.html.j2", status=404, reason="notfound")


@member
async def quarantine_message(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    qid = request.path_params["qid"]
    found = await _visible(state, principal, qid)
    if found is None:
        return _not_found(request)
    entry, units = found
    findings = await state.read(lambda c: c.message_findings(entry["message"]))
    releases = await state.read(lambda c: c.releases_of(qid))
    names = await state.read(lambda c: c.unit_names(units))
    parsed: ParsedMessage | None = None
    data = (
        await state.store.call(lambda s: state.quarantine.read(s, entry))
        if entry["status"] in ("held", "rejected")
        else None
    )
    if data is not None:
        limits = Limits(**state.config().inspection.model_dump())
        parsed = await asyncio.to_thread(parse_message, data, limits)
    body = "\n\n".join(parsed.body_text)[:BODY_CHARS] if parsed else ""
    return state.page(
        request,
        "message.html.j2",
        entry=entry,
        units=sorted(units),
        names=names,
        findings=[(f, *title(f.rule)) for f in findings],
        releases=releases,
        parsed=parsed,
        headers=parsed.headers[:200] if parsed else [],
        body=body,
        body_cut=bool(parsed) and len("\n\n".join(parsed.body_text)) > BODY_CHARS,  # type: ignore[union-attr]
    )


def _reason(form: Any) -> str:
    return str(form.get("reason", "")).strip()[:MAX_REASON]


@member
async def quarantine_release(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    qid = request.path_params["qid"]
    form = await request.form()
    reason = _reason(form)
    async with state.actions:
        found = await _visible(state, principal, qid)
        if found is None:
            return _not_found(request)
        entry, units = found
        status = entry["status"]
        if not reason:
            return state.page(request, "error.html.j2", status=400, reason="why", qid=qid)
        if status == "rejected" and form.get("rejected_copy") != "yes":
            return state.page(request, "error.html.j2", status=400, reason="rejected", qid=qid)
        if status not in ("held", "rejected"):
            return state.page(request, "error.html.j2", status=409, reason="status", qid=qid, status_now=status)
        config = state.config()
        data = await state.store.call(lambda s: state.quarantine.read(s, entry))
        claimed = data is not None and await state.store.call(lambda s: s.quarantine.claim(qid, status))
        if not claimed or data is None:  # another node or operator was first
            return state.page(request, "error.html.j2", status=409, reason="status", qid=qid, status_now="releasing")
        try:
            reply = await state.quarantine.reinject_entry(config, entry, data)
        except (ReinjectError, OSError) as exc:
            await state.store.call(lambda s: s.quarantine.set_status(qid, status))
            result = f"failed: {exc}"
            await state.records(
                lambda r: r.record_action(now_utc(), principal.address, "release", qid, units, reason, result)
            )
            log.error("console release of %s by %s failed: %s", qid, principal.address, exc)
            return state.page(request, "error.html.j2", status=502, reason="reinject", qid=qid, detail=str(exc))
        who = f"{principal.address} (console)"

        def done(s: Store) -> None:
            with s.transaction():
                s.quarantine.set_status(qid, "released")
                s.releases.record(qid, who, reason, status, reply)

        await state.store.call(done)
        await asyncio.to_thread(state.quarantine.forget, entry)
        action = "release-rejected-copy" if status == "rejected" else "release"
        await state.records(lambda r: r.record_action(now_utc(), principal.address, action, qid, units, reason, reply))
    log.info("console: %s released %s (%s): %s", principal.address, qid, status, reply)
    return RedirectResponse(f"/quarantine/{qid}", status_code=303)


@member
async def quarantine_delete(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    qid = request.path_params["qid"]
    form = await request.form()
    reason = _reason(form)
    async with state.actions:
        found = await _visible(state, principal, qid)
        if found is None:
            return _not_found(request)
        entry, units = found
        if not reason:
            return state.page(request, "error.html.j2", status=400, reason="why", qid=qid)
        if entry["status"] == "deleted":
            return state.page(request, "error.html.j2", status=409, reason="status", qid=qid, status_now="deleted")
        await state.store.call(lambda s: state.quarantine.delete(s, qid))
        was = entry["status"]
        await state.records(
            lambda r: r.record_action(
                now_utc(), principal.address, "delete", qid, units, reason, f"deleted (was {was})"
            )
        )
    log.info("console: %s deleted %s", principal.address, qid)
    return RedirectResponse(f"/quarantine/{qid}", status_code=303)
