"""The console in a real browser (Debian's Chromium driven by Playwright) against the real stack: a
unit's IT contact signs in with their Dovecot password, sees only their unit, and releases a held
message that then arrives in the recipient's Dovecot mailbox; a wrong password, another unit's
message id and a forged form are refused; the sign-in limit survives a restart. The README's
screenshots (docs/screenshots/) are taken here, with MAILMON_SCREENSHOTS=1."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from mailstack import MailStack
from tests.conftest import REPO
from tests.web.console_stack import (
    ADMIN,
    CONTACT_A,
    CONTACT_B,
    PASSWORDS,
    RECIPIENT_A,
    Console,
    start_console,
)

pytestmark = pytest.mark.stack

# The README's screenshots are rewritten only when asked (MAILMON_SCREENSHOTS=1): a plain test run
# leaves the working tree as it was. Otherwise they go to a scratch directory, still taken and checked.
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("MAILMON_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / f"mailmon-screenshots-{os.getpid()}"
)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def console(stack: MailStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    running = start_console(stack, Path(tmp_path_factory.mktemp("console-browser")))
    yield running
    running.proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup installs it)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="vi-VN")
    yield ctx
    ctx.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes().startswith(b"\x89PNG"), path


def sign_in(page: Page, console: Console, address: str, password: str) -> int:
    page.goto(console.base + "/signin")
    page.fill("input[name=address]", address)
    page.fill("input[name=password]", password)
    with page.expect_response(lambda r: r.url.endswith("/signin") and r.request.method == "POST") as answer:
        page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_load_state()
    return answer.value.status


def released_in_inbox(stack: MailStack, address: str, qid: str) -> bool:
    imap = stack.imap(address)
    try:
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "HEADER", "X-Mailmon-Released", qid)
        return bool(found[0].split())
    finally:
        imap.logout()


def test_unit_contact_signs_in_sees_their_unit_and_releases_a_held_message(
    console: Console, context: BrowserContext, stack: MailStack
) -> None:
    page = context.new_page()
    page.goto(console.base + "/")
    assert page.url.endswith("/signin")
    page.fill("input[name=address]", CONTACT_A)
    shot(page, "signin")
    assert sign_in(page, console, CONTACT_A, PASSWORDS[CONTACT_A]) == 303
    assert page.inner_text("#who") == CONTACT_A
    cookie = next(c for c in context.cookies() if c["name"] == "mailmon_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    page.click("nav a[href='/quarantine']")
    listed = page.locator("#quarantine tr[data-qid]").evaluate_all("rows => rows.map(r => r.dataset.qid)")
    assert listed == [console.qid_a]  # so-b's message is not there
    shot(page, "quarantine")

    page.click(f"a[href='/quarantine/{console.qid_a}']")
    assert page.inner_text("#status") == "held"
    assert "executable-attachment" in page.inner_text("#findings")
    assert "setup.exe" in page.inner_text("#attachments")
    assert not released_in_inbox(stack, RECIPIENT_A, console.qid_a)
    page.fill("#release textarea[name=reason]", "Phần mềm do Sở gửi theo công văn 12/CV / sent by the department")
    shot(page, "message")
    page.click("#release button[type=submit]")
    page.wait_for_load_state()
    assert page.inner_text("#status") == "released"
    assert CONTACT_A in page.inner_text("#releases")
    stack.wait_until(lambda: released_in_inbox(stack, RECIPIENT_A, console.qid_a), 60, "the released message")

    page.click("nav a[href='/audit']")
    audit = page.inner_text("#audit")
    assert CONTACT_A in audit and "release" in audit and "công văn 12/CV" in audit
    shot(page, "audit")

    deadline = time.monotonic() + 60  # the mailboxes are evaluated in the background soon after start
    page.goto(console.base + "/mailboxes")
    while CONTACT_A not in page.inner_text("#mailboxes") or "—" in page.inner_text(".note"):
        assert time.monotonic() < deadline, "the mailboxes were not evaluated"
        time.sleep(0.5)
        page.goto(console.base + "/mailboxes")
    assert CONTACT_B not in page.inner_text("#mailboxes")
    shot(page, "mailboxes")
    page.goto(console.base + "/senders")
    assert console.held_sender_a in page.inner_text("#senders")
    shot(page, "senders")
    page.goto(console.base + "/")
    assert "executable-attachment" in page.inner_text("main")
    shot(page, "overview")


def test_wrong_password_is_refused(console: Console, context: BrowserContext) -> None:
    page = context.new_page()
    assert sign_in(page, console, CONTACT_B, "not-the-password") == 401
    assert "Sai địa chỉ hoặc mật khẩu" in page.inner_text("[role=alert]")
    assert not [c for c in context.cookies() if c["name"] == "mailmon_session"]
    page.goto(console.base + "/quarantine")
    assert page.url.endswith("/signin")


def test_another_units_message_id_is_refused(console: Console, context: BrowserContext) -> None:
    page = context.new_page()
    assert sign_in(page, console, CONTACT_B, PASSWORDS[CONTACT_B]) == 303
    answer = page.goto(f"{console.base}/quarantine/{console.qid_a}")
    assert answer is not None and answer.status == 404
    assert page.get_attribute("#refusal", "data-reason") == "notfound"
    assert "setup.exe" not in page.content()
    page.goto(console.base + "/quarantine?status=all")
    listed = page.locator("#quarantine tr[data-qid]").evaluate_all("rows => rows.map(r => r.dataset.qid)")
    assert listed == [console.qid_b]
    shot(page, "refused")


def test_a_forged_form_without_the_csrf_token_is_refused(console: Console, context: BrowserContext) -> None:
    page = context.new_page()
    assert sign_in(page, console, CONTACT_B, PASSWORDS[CONTACT_B]) == 303
    target = f"{console.base}/quarantine/{console.qid_b}/delete"
    # The browser's own session cookie, but no token: what a script replaying the form would send.
    answer = context.request.post(target, form={"reason": "forged"}, max_redirects=0)
    assert answer.status == 403 and 'data-reason="csrf"' in answer.text()
    answer = context.request.post(target, form={"reason": "forged", "csrf": "guessed"}, max_redirects=0)
    assert answer.status == 403 and 'data-reason="csrf"' in answer.text()
    # A page of another site posting the same form: the SameSite=Strict cookie does not go with it.
    page.goto("about:blank")  # another origin than the console's
    page.set_content(f'<form method="post" action="{target}"><input name="reason" value="forged"></form>')
    with page.expect_response(lambda r: r.url == target) as forged:
        page.evaluate("document.forms[0].submit()")
    assert forged.value.status == 403
    page.wait_for_load_state()
    assert page.get_attribute("#refusal", "data-reason") == "signin"  # no cookie went with it
    check = context.new_page()
    check.goto(f"{console.base}/quarantine/{console.qid_b}")
    assert check.inner_text("#status") == "held"
    check.goto(console.base + "/audit")
    assert "forged" not in check.inner_text("#audit")


def test_sign_in_attempts_are_limited_and_the_limit_survives_a_restart(
    console: Console, context: BrowserContext
) -> None:
    page = context.new_page()
    for _ in range(3):  # [web] signin_failures_per_address = 3 here
        assert sign_in(page, console, ADMIN, "guess") == 401
    assert sign_in(page, console, ADMIN, PASSWORDS[ADMIN]) == 429
    assert "Quá nhiều lần đăng nhập sai" in page.inner_text("[role=alert]")
    console.restart()
    assert sign_in(page, console, ADMIN, PASSWORDS[ADMIN]) == 429
    assert not [c for c in context.cookies() if c["name"] == "mailmon_session"]
