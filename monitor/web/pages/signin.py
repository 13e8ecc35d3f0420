"""Sign-in with one's own official mailbox and password (checked by Dovecot), and sign-out.

Attempts are limited per mailbox and per client address (``[web] signin_failures_per_*`` wrong
passwords within ``signin_window_minutes``), counted from the store so a restart resets nothing.
The sign-in form carries a token bound to a short-lived cookie (double submit), so another site
cannot sign a browser in under someone else's name.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitor.store import Store
from monitor.web.auth import (
    SIGNIN_COOKIE,
    Principal,
    current,
    member,
    new_secret,
    now_utc,
    public,
    role_of,
    session_cookie_name,
    session_key,
    set_cookie,
)
from monitor.web.imap_signin import Unavailable, password_ok
from monitor.web.state import web_state

log = logging.getLogger("mailmon.web")


@public
async def signin_form(request: Request) -> Response:
    if await current(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _form(request, 200)


def _form(request: Request, status: int, problem: str = "", address: str = "") -> Response:
    state = web_state(request)
    token = new_secret()
    response = state.page(request, "signin.html.j2", status=status, token=token, problem=problem, address=address)
    set_cookie(response, SIGNIN_COOKIE, token, state.config().web.secure_cookies, max_age=3600)
    return response


@public
async def signin(request: Request) -> Response:
    state = web_state(request)
    web = state.config().web
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    token, cookie = form.get("token"), request.cookies.get(SIGNIN_COOKIE, "")
    if not isinstance(token, str) or not cookie or not hmac.compare_digest(token.encode(), cookie.encode()):
        return state.page(request, "error.html.j2", status=403, reason="csrf")
    address = str(form.get("address", "")).strip().lower()
    password = str(form.get("password", ""))
    client = request.client.host if request.client else "?"
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="seconds")
    since = (now - timedelta(minutes=web.signin_window_minutes)).isoformat(timespec="seconds")

    def limits(s: Store) -> tuple[int, int]:
        records = s.console_sessions
        records.forget_old(
            (now - timedelta(minutes=web.session_idle_minutes)).isoformat(timespec="seconds"),
            (now - timedelta(hours=web.session_max_hours)).isoformat(timespec="seconds"),
            (now - timedelta(days=1, minutes=web.signin_window_minutes)).isoformat(timespec="seconds"),
        )
        return records.failures_since(since, address=address), records.failures_since(since, client=client)

    async def record(outcome: str) -> None:
        await state.store.call(lambda s: s.console_sessions.record_attempt(stamp, address, client, outcome))

    by_address, by_client = await state.store.call(limits)
    if by_address >= web.signin_failures_per_address or by_client >= web.signin_failures_per_client:
        await record("limited")
        log.warning("sign-in refused for the limit: %r from %s", address, client)
        return _form(request, 429, "limited", address)
    try:
        ok = await password_ok(state.config(), address, password)
    except Unavailable as exc:
        await record("unavailable")
        log.error("sign-in: Dovecot could not be asked: %s", exc)
        return _form(request, 503, "unavailable", address)
    if not ok:
        await record("failed")
        return _form(request, 401, "wrong", address)
    admin, units = await role_of(state, address)
    if not admin and not units:
        await record("refused")
        return state.page(request, "error.html.j2", status=403, reason="role", address=address)
    await record("ok")
    cookie_value, csrf = new_secret(), new_secret()
    key = session_key(cookie_value)
    await state.store.call(lambda s: s.console_sessions.open_session(key, address, csrf, now_utc(), client))
    log.info("console sign-in: %s (%s) from %s", address, "admin" if admin else "IT contact", client)
    response = RedirectResponse("/", status_code=303)
    set_cookie(response, session_cookie_name(web.secure_cookies), cookie_value, web.secure_cookies)
    response.delete_cookie(SIGNIN_COOKIE, path="/", secure=web.secure_cookies, httponly=True, samesite="strict")
    return response


@member
async def signout(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    web = state.config().web
    name = session_cookie_name(web.secure_cookies)
    key = session_key(request.cookies.get(name, ""))
    await state.store.call(lambda s: s.console_sessions.close_session(key))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(name, path="/", secure=web.secure_cookies, httponly=True, samesite="strict")
    return response
