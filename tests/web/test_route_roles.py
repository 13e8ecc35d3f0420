"""Every route of the console, walked as each role against the running `mailmon run`: anonymous, the
IT contact of another unit, the unit's IT contact, an administrator. The routes are read from the
app itself, so a route added without a case here (and so without its role check seen) fails."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailstack import MailStack
from monitor.web.app import routes
from tests.web.console_stack import (
    ADMIN,
    CONTACT_A,
    CONTACT_B,
    NOBODY,
    PASSWORDS,
    Client,
    Console,
    start_console,
)

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def console(stack: MailStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    running = start_console(stack, Path(tmp_path_factory.mktemp("console-roles")))
    yield running
    running.proc.stop()


@dataclass(frozen=True)
class Case:
    """How to call one route: ``kind`` is "public", "list" (everyone signed in, each sees their own) or
    "unit-a" (something of unit so-a: its contact and administrators only); ``ok`` is the answer a
    permitted role gets (a POST is sent without a reason, so a permitted one answers 400 and changes nothing)."""

    url: str
    kind: str
    ok: int = 200
    form: dict[str, str] | None = None


def cases(console: Console) -> dict[tuple[str, str], Case]:
    return {
        ("GET", "/"): Case("/", "list"),
        ("GET", "/signin"): Case("/signin", "public"),
        ("POST", "/signin"): Case("/signin", "public"),
        ("POST", "/signout"): Case("/signout", "list", 303, {}),
        ("GET", "/quarantine"): Case("/quarantine?status=all", "list"),
        ("GET", "/quarantine/{qid}"): Case(f"/quarantine/{console.qid_a}", "unit-a"),
        ("POST", "/quarantine/{qid}/release"): Case(f"/quarantine/{console.qid_a}/release", "unit-a", 400, {}),
        ("POST", "/quarantine/{qid}/delete"): Case(f"/quarantine/{console.qid_a}/delete", "unit-a", 400, {}),
        ("GET", "/mailboxes"): Case("/mailboxes", "list"),
        ("GET", "/senders"): Case("/senders", "list"),
        ("POST", "/senders/release"): Case("/senders/release", "unit-a", 400, {"sender": console.held_sender_a}),
        ("GET", "/reports"): Case("/reports", "list"),
        ("GET", "/reports/download"): Case("/reports/download?period=2026&unit=so-a&format=csv", "unit-a"),
        ("GET", "/audit"): Case("/audit", "list"),
        ("GET", "/static/{name}"): Case("/static/console.css", "public"),
    }


def app_routes() -> list[tuple[str, str]]:
    found = []
    for route in routes():
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path))
    return found


def test_every_route_has_a_guard_and_a_case(console: Console) -> None:
    known = cases(console)
    for route in routes():
        access = getattr(route.endpoint, "access", None)
        assert access in ("public", "member"), f"{route.path} is neither auth.public nor auth.member"
        for method in sorted((route.methods or set()) - {"HEAD"}):
            case = known.get((method, route.path))
            assert case is not None, f"{method} {route.path}: add a Case to the walk (and check its roles)"
            assert (case.kind == "public") == (access == "public"), f"{method} {route.path} is {access}"
    assert len(app_routes()) == len(known)


def signed_in(console: Console, address: str) -> Client:
    client = Client(console.port)
    assert client.signin(address, PASSWORDS[address]) == 303
    return client


def call(client: Client, case: Case, method: str) -> tuple[int, dict[str, str], str]:
    form = None
    if method == "POST":
        form = dict(case.form or {})
        if client.cookies:
            form["csrf"] = client.csrf()
    return client.request(method, case.url, form)


def unit_a_markers(console: Console) -> list[str]:
    return [console.qid_a, console.held_sender_a, NOBODY]


def test_anonymous(console: Console) -> None:
    for (method, path), case in cases(console).items():
        client = Client(console.port)
        status, headers, body = call(client, case, method)
        assert headers.get("cache-control") == "no-store", path
        if case.kind == "public":
            if method == "POST":  # the sign-in without its form token
                assert status == 403 and 'data-reason="csrf"' in body
            else:
                assert status == 200, path
        elif method == "GET":
            assert status == 303 and headers["location"] == "/signin", path
        else:
            assert status == 403 and 'data-reason="signin"' in body, path
        for marker in unit_a_markers(console):
            assert marker not in body, (path, marker)


@pytest.mark.parametrize("role", ["other-unit contact", "unit contact", "administrator"])
def test_signed_in_roles(console: Console, role: str) -> None:
    address = {"other-unit contact": CONTACT_B, "unit contact": CONTACT_A, "administrator": ADMIN}[role]
    walk = sorted(cases(console).items(), key=lambda kv: kv[0] == ("POST", "/signout"))  # sign-out last
    client = signed_in(console, address)
    for (method, path), case in walk:
        status, headers, body = call(client, case, method)
        assert headers.get("cache-control") == "no-store", path
        if case.kind == "public":
            expected = {("GET", "/signin"): 303, ("POST", "/signin"): 403}.get((method, path), 200)
            assert status == expected, (role, method, path, status)
        elif case.kind == "list":
            assert status == case.ok, (role, method, path, status, body[-500:])
            if role == "other-unit contact":
                for marker in unit_a_markers(console):
                    assert marker not in body, (path, marker)
        elif role == "other-unit contact":
            assert status == 404 and 'data-reason="notfound"' in body, (role, method, path, status)
        else:
            assert status == case.ok, (role, method, path, status, body[-500:])
    # After the sign-out the session is gone.
    status, headers, _ = client.request("GET", "/")
    assert status == 303 and headers["location"] == "/signin"


def test_list_pages_show_the_unit_contact_their_unit(console: Console) -> None:
    client = signed_in(console, CONTACT_A)
    _, _, quarantine = client.request("GET", "/quarantine?status=all")
    assert console.qid_a in quarantine and console.qid_b not in quarantine
    _, _, senders = client.request("GET", "/senders")
    assert console.held_sender_a in senders
    admin = signed_in(console, ADMIN)
    _, _, everything = admin.request("GET", "/quarantine?status=all")
    assert console.qid_a in everything and console.qid_b in everything


def test_a_mailbox_without_a_role_is_refused_after_its_correct_password(console: Console) -> None:
    client = Client(console.port)
    status = client.signin(NOBODY, PASSWORDS[NOBODY])
    assert status == 403
    assert not any("mailmon_session" in k for k in client.cookies)
    status, headers, _ = client.request("GET", "/")
    assert status == 303 and headers["location"] == "/signin"
