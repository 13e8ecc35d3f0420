"""The console against the real stack: `mailmon run` with [web] on a free port, Dovecot's IMAP for the
sign-in, two units in the directory whose IT contacts are real Dovecot users, and one quarantined
message for each unit, quarantined by the real filter out of real Postfix traffic."""

from __future__ import annotations

import http.client
import re
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from mailstack import MailStack
from monitor.store import Store
from tests.conftest import USERS, FilterProcess, mailmon, store_target_for, tables, write_config
from tests.samples.make_samples import PE, message

CONTACT_A = "hoant.stttt@example.gov.vn"  # IT contact of so-a
CONTACT_B = "giamdoc@example.gov.vn"  # IT contact of so-b
ADMIN = "postmaster@example.gov.vn"  # in [web] admins
NOBODY = "vanphong@example.gov.vn"  # a real mailbox of so-a, with no role
RECIPIENT_A, RECIPIENT_B = NOBODY, CONTACT_B
PARTNER = "lanhdao@partner.gov.vn"
PASSWORDS = USERS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])



@dataclass
class Console:
    proc: FilterProcess
    config: Path
    port: int
    base: str
    qid_a: str = ""
    qid_b: str = ""
    held_sender_a: str = "thuky@example.gov.vn"
    extra: dict[str, str] = field(default_factory=dict)

    def store(self) -> Store:
        return Store(store_target_for(self.config.parent))

    def restart(self) -> None:
        self.proc.stop()
        self.proc.start()
        wait_http(self.port)


def wait_http(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"the console did not listen on {port}")


def start_console(stack: MailStack, directory: Path) -> Console:
    stack.clear()
    port = free_port()
    config = write_config(
        directory,
        f'[daemon]\nmetrics_listen = "127.0.0.1:{free_port()}"\n'
        "[alerts]\nenabled = false\n"
        f'[dovecot]\nimap = "127.0.0.1:{stack.ports.imap}"\n'
        '[rules.executable-attachment]\naction = "quarantine"\n'
        f'[web]\nlisten = "127.0.0.1:{port}"\nsecure_cookies = false\nadmins = ["{ADMIN}"]\n'
        "signin_failures_per_address = 3\n",
        listen=f"127.0.0.1:{stack.ports.filter}",
        reinject=f"127.0.0.1:{stack.ports.reinject}",
        workers=1,
    )
    units = directory / "units.csv"
    units.write_text(
        f"unit,name,parent,it_contact\nso-a,Sở Tài chính,,{CONTACT_A}\nso-b,Sở Nội vụ,,{CONTACT_B}\n",
        encoding="utf-8",
    )
    boxes = directory / "mailboxes.csv"
    rows = [
        (CONTACT_A, "so-a"),
        (NOBODY, "so-a"),
        ("thuky@example.gov.vn", "so-a"),
        (CONTACT_B, "so-b"),
        (ADMIN, "so-b"),
    ]
    boxes.write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        + "".join(f"{a},Cán bộ {a.split('@')[0]},{u},personal,active,2025-01-01,2026-01-01,1024\n" for a, u in rows),
        encoding="utf-8",
    )
    done = mailmon(config, "directory", "import", str(units), str(boxes))
    assert done.returncode == 0, done.stderr
    proc = FilterProcess(config, stack.ports.filter, directory / "run.log", command="run")
    proc.start()
    wait_http(port)
    console = Console(proc, config, port, f"http://127.0.0.1:{port}")
    for recipient, token in ((RECIPIENT_A, "so-a"), (RECIPIENT_B, "so-b")):
        msg = message(
            f"Phần mềm cho {token}",
            sender=PARTNER,
            to=recipient,
            attachments=[("setup.exe", PE, "application/octet-stream")],
        )
        del msg["Message-ID"]
        msg["Message-ID"] = f"<console-{token}@partner.gov.vn>"
        stack.send(msg, PARTNER, [recipient])
    store = console.store()
    try:
        stack.wait_until(lambda: len(store.quarantine.entries()) == 2, 60, "both messages in quarantine")
        for entry in store.quarantine.entries():
            if entry["rcpt_tos"] == [RECIPIENT_A]:
                console.qid_a = entry["id"]
            else:
                console.qid_b = entry["id"]
        # A sender of so-a held for its sending (what the sending windows write when one is exceeded).
        tables(store_target_for(console.config.parent)).insert(
            "held_senders",
            {
                "sender": console.held_sender_a,
                "since": "2026-01-01T00:00:00+00:00",
                "until": "2999-01-01T00:00:00+00:00",
                "reason": "100 thư / messages in an hour",
            }
        )
    finally:
        store.close()
    assert console.qid_a and console.qid_b
    return console


# -- a small HTTP client with a cookie jar, for the route walk ---------------------------------------
class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                val = rest.split(";", 1)[0]
                if val in ('""', "") or "max-age=0" in value.lower():
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = val
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text

    def signin(self, address: str, password: str) -> int:
        _, _, page = self.request("GET", "/signin")
        token = re.search(r'name="token" value="([^"]+)"', page)
        assert token, page
        status, _, _ = self.request("POST", "/signin", {"token": token[1], "address": address, "password": password})
        return status

    def csrf(self) -> str:
        _, _, page = self.request("GET", "/audit")
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, page
        return found[1]
