"""The console as an ASGI application: its routes, each behind auth.public or auth.member, and the
headers every answer carries (no caching anywhere, no framing, a strict Content-Security-Policy)."""

from __future__ import annotations

from importlib.resources import files

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.web.auth import public
from monitor.web.pages.mailboxes import mailboxes, sender_release, senders
from monitor.web.pages.overview import overview
from monitor.web.pages.quarantine import quarantine_delete, quarantine_list, quarantine_message, quarantine_release
from monitor.web.pages.reports import audit, report_download, reports
from monitor.web.pages.signin import signin, signin_form, signout
from monitor.web.state import WebState

MAX_BODY_BYTES = 64 * 1024  # forms only: a reason, a token, an address
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
STATIC = {"console.css": "text/css; charset=utf-8"}


@public
async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response((files("monitor.web") / "static" / name).read_bytes(), media_type=STATIC[name])


def routes() -> list[Route]:
    return [
        Route("/", overview, methods=["GET"]),
        Route("/signin", signin_form, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/quarantine", quarantine_list, methods=["GET"]),
        Route("/quarantine/{qid}", quarantine_message, methods=["GET"]),
        Route("/quarantine/{qid}/release", quarantine_release, methods=["POST"]),
        Route("/quarantine/{qid}/delete", quarantine_delete, methods=["POST"]),
        Route("/mailboxes", mailboxes, methods=["GET"]),
        Route("/senders", senders, methods=["GET"]),
        Route("/senders/release", sender_release, methods=["POST"]),
        Route("/reports", reports, methods=["GET"]),
        Route("/reports/download", report_download, methods=["GET"]),
        Route("/audit", audit, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
    ]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every answer, and the CSP unless the route set its own (the report)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def build_app(state: WebState) -> ASGIApp:
    app = Starlette(routes=routes(), max_body_size=MAX_BODY_BYTES)
    app.state.console = state
    return SecurityHeaders(app)
