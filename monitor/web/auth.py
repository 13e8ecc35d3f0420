"""Who is asking and what they may do: sessions, roles, CSRF, and the guard every route goes through.

- A session is a random 256-bit value in a cookie (HttpOnly, SameSite=Strict, Secure unless
  ``[web] secure_cookies = false``; with Secure the name carries the ``__Host-`` prefix, so no
  other host or path can set it). The store keeps only its SHA-256, the address, a CSRF token and
  two times: idle expiry counts from the last request, absolute expiry from the sign-in.
- The role is decided on every request from the configuration and the directory as they are then:
  an administrator (``[web] admins``) sees everything; a unit's IT contact sees that unit's messages,
  senders and mailboxes; anyone else signed in is refused. Removing someone takes effect at once.
- Every route is declared with ``public`` or ``member``; ``member`` routes get the Principal, and
  their POSTs are refused without the session's CSRF token. tests/web/test_route_roles.py walks
  every route of the app as each role, so a route without a guard fails the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitor.web.state import WebState, web_state

Access = Literal["public", "member"]
Handler = Callable[[Request], Awaitable[Response]]
MemberHandler = Callable[[Request, "Principal"], Awaitable[Response]]

SESSION_TOUCH_SECONDS = 60  # last_seen is written at most once a minute per session
SIGNIN_COOKIE = "mailmon_signin"


@dataclass(frozen=True)
class Principal:
    """A signed-in person with a role; ``units`` None means every unit (an administrator)."""

    address: str
    admin: bool
    units: frozenset[str] | None
    csrf: str

    @property
    def scope(self) -> Collection[str] | None:
        return None if self.units is None else sorted(self.units)

    def may_see(self, units: Collection[str]) -> bool:
        """True for an administrator, or when one of ``units`` is this person's."""
        return self.units is None or bool(self.units & set(units))

    @property
    def role(self) -> str:
        return "admin" if self.admin else "contact"


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def session_cookie_name(secure: bool) -> str:
    return "__Host-mailmon" if secure else "mailmon_session"


def session_key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("ascii", "replace")).hexdigest()


def set_cookie(response: Response, name: str, value: str, secure: bool, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict")


async def role_of(state: WebState, address: str) -> tuple[bool, frozenset[str]]:
    """(administrator?, the units whose IT contact this is), from the config and directory now."""
    admin = address.lower() in state.config().web.admins
    units = await state.store.call(lambda s: s.console.contact_units(address))
    return admin, frozenset(units)


async def current(request: Request) -> tuple[str, str] | None:
    """(session key, address) of a live session, after the idle and absolute expiries; None otherwise."""
    state = web_state(request)
    web = state.config().web
    cookie = request.cookies.get(session_cookie_name(web.secure_cookies))
    if not cookie or len(cookie) > 100:
        return None
    key = session_key(cookie)
    row = await state.store.call(lambda s: s.console_sessions.session(key))
    if row is None:
        return None
    now = datetime.now(UTC)
    idle = now - datetime.fromisoformat(row.last_seen) > timedelta(minutes=web.session_idle_minutes)
    old = now - datetime.fromisoformat(row.created_at) > timedelta(hours=web.session_max_hours)
    if idle or old:
        await state.store.call(lambda s: s.console_sessions.close_session(key))
        return None
    if (now - datetime.fromisoformat(row.last_seen)).total_seconds() >= SESSION_TOUCH_SECONDS:
        stamp = now.isoformat(timespec="seconds")
        await state.store.call(lambda s: s.console_sessions.touch_session(key, stamp))
    request.scope["mailmon.csrf"] = row.csrf
    return key, row.address


def public(handler: Handler) -> Handler:
    """A route anyone may reach (the sign-in page, the style sheet)."""
    handler.access = "public"  # type: ignore[attr-defined]
    return handler


def member(handler: MemberHandler) -> Handler:
    """A route for a signed-in administrator or IT contact; a POST must carry the session's CSRF token."""

    async def guarded(request: Request) -> Response:
        state = web_state(request)
        session = await current(request)
        if session is None:
            if request.method == "GET":
                return RedirectResponse("/signin", status_code=303)
            return state.page(request, "error.html.j2", status=403, reason="signin")
        _, address = session
        admin, units = await role_of(state, address)
        csrf = str(request.scope["mailmon.csrf"])
        if not admin and not units:
            return state.page(request, "error.html.j2", status=403, reason="role", address=address)
        principal = Principal(address, admin, None if admin else units, csrf)
        request.scope["mailmon.principal"] = principal
        if request.method == "POST":
            form = await request.form(max_files=0, max_fields=20, max_part_size=64 * 1024)
            token = form.get("csrf")
            if not isinstance(token, str) or not hmac.compare_digest(token.encode(), csrf.encode()):
                return state.page(request, "error.html.j2", status=403, reason="csrf")
        return await handler(request, principal)

    guarded.access = "member"  # type: ignore[attr-defined]
    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


def new_secret() -> str:
    return secrets.token_urlsafe(32)
