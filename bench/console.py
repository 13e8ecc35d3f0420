"""The console's pages at scale: how long each answers with 100,000 mailboxes and 1,000,000 findings.

.venv/bin/python bench/console.py [--boxes 100000] [--findings 1000000] [--quarantine 100000] [--requests 50]

A store is filled (not timed): mailboxes in 500 units, a year of findings with their messages
(recipients inside and outside), quarantined messages with their parties, held senders, an audit
trail; the mailboxes are evaluated and the findings counted once, as the background jobs do (timed
apart: later passes count only what arrived since). Then the console
runs as `mailmon run` serves it (uvicorn, its own store thread) and each page is asked for
``--requests`` times over HTTP, as an administrator and as one unit's IT contact. The peer is the
style sheet, a route that touches no store: the ratio says what the page's own work costs.
Prints p50/p95 per page and ``RESULT`` lines; the target is 200 ms at p95.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import load_config
from monitor.mailboxes.calendar import Calendar
from monitor.store import AsyncStore, Store
from monitor.web.auth import now_utc, session_key
from monitor.web.server import ConsoleServer
from monitor.web.summaries import count_findings, refresh

UNITS = 500
RULES = [
    "public-provider-mailbox",
    "executable-attachment",
    "forwarding-to-personal",
    "spam",
    "virus",
    "archive-nested",
]
MESSAGE = (
    b"From: a@example.gov.vn\r\nTo: b@gmail.com\r\nSubject: =?utf-8?q?B=C3=A1o_c=C3=A1o?=\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
    + b"Kinh gui anh chi.\r\n" * 200
    + b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n"
    + b"%PDF-1.4\r\n--b--\r\n"
)


def box(i: int) -> str:
    return f"u{i}.dv{i % UNITS}@example.gov.vn"


def populate(store: Store, args: argparse.Namespace, work: Path, rng: random.Random) -> None:
    """Fill the store: the bulk rows with plain SQL on a connection of the benchmark's own (as years of
    filtering would have left them, each finding with what it is about), the rest through the store."""
    conn = sqlite3.connect(store.path, isolation_level=None)
    now = datetime.now(UTC)

    def bulk(sql: str, rows: object) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)  # type: ignore[arg-type]
        conn.execute("COMMIT")

    bulk(
        "INSERT INTO units (unit, name, it_contact) VALUES (?, ?, ?)",
        ((f"dv{u}", f"Đơn vị {u}", json.dumps([f"it.dv{u}@example.gov.vn"])) for u in range(UNITS)),
    )
    bulk(
        "INSERT INTO mailboxes (address, display_name, unit, kind, status, created_at, password_changed_at, "
        "quota_mb) VALUES (?, ?, ?, 'personal', 'active', '2024-01-01', ?, 1024)",
        (
            (box(i), f"Cán bộ {i}", f"dv{i % UNITS}", (now - timedelta(days=rng.randint(0, 300))).date().isoformat())
            for i in range(args.boxes)
        ),
    )
    span = 365 * 86400
    batch = 50_000
    made = 0
    while made < args.findings:
        n = min(batch, args.findings - made)
        first = made + 1  # message i and its finding share the id i
        messages, findings, concerns = [], [], []
        for k in range(n):
            when = (now - timedelta(seconds=rng.randint(0, span))).isoformat(timespec="seconds")
            i = rng.randrange(args.boxes)
            sender, unit = box(i), f"dv{i % UNITS}"
            rcpts = json.dumps([box(rng.randrange(args.boxes)), f"p{rng.randrange(10**6)}@gmail.com"])
            messages.append((first + k, when, sender, rcpts))
            findings.append((first + k, first + k, when, sender, rcpts, rng.choice(RULES)))
            # Outbound mail is about its sender (rules/concerns.py): the message and its finding.
            concerns += [(first + k, None, sender, unit), (first + k, first + k, sender, unit)]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO messages (id, time, mail_from, rcpt_tos, direction, verdict, outcome) "
            "VALUES (?, ?, ?, ?, 'outbound', 'tag', 'delivered')",
            messages,
        )
        conn.executemany(
            "INSERT INTO findings (id, message, time, mail_from, rcpt_tos, direction, rule, severity, action, detail, "
            "citation) VALUES (?, ?, ?, ?, ?, 'outbound', ?, 'warning', 'tag', 'detail', 'DN-2022 Đ5')",
            findings,
        )
        conn.executemany("INSERT INTO concerns (message, finding, mailbox, unit) VALUES (?, ?, ?, ?)", concerns)
        conn.execute("COMMIT")
        made += n
    path = work / "sample.eml"
    path.write_bytes(MESSAGE)
    for start in range(0, args.quarantine, batch):
        with store.transaction():  # each add joins it: one commit per batch
            for i in range(start, min(start + batch, args.quarantine)):
                when = (now - timedelta(seconds=rng.randint(0, 90 * 86400))).isoformat(timespec="seconds")
                store.quarantine.add(
                    {
                        "id": f"{when[:10].replace('-', '')}T000000-{i:08x}",
                        "time": when,
                        "message": rng.randint(1, args.findings),
                        "mail_from": f"p{i}@gmail.com",
                        "rcpt_tos": [box(rng.randrange(args.boxes))],
                        "direction": "inbound",
                        "verdict": "quarantine",
                        "reason": "executable-attachment",
                        "path": str(path),
                        "size": len(MESSAGE),
                        "sha256": "0" * 64,
                        "status": "held" if i % 3 else "released",
                    }
                )
    bulk(
        "INSERT INTO held_senders (sender, since, until, reason) VALUES (?, ?, '2999-01-01T00:00:00+00:00', 'x')",
        ((box(i * 37), now.isoformat(timespec="seconds")) for i in range(200)),
    )
    conn.close()
    with store.transaction():
        for i in range(10_000):
            store.console_sessions.record_action(
                now_utc(), "boss@example.gov.vn", "release", f"q{i}", [f"dv{i % UNITS}"], "why", "250"
            )


def held_of_unit(path: Path, unit: str) -> str:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(
            "SELECT q.id FROM quarantine q JOIN quarantine_parties p ON p.quarantine_id = q.id "
            "JOIN mailboxes b ON b.address = p.address WHERE b.unit = ? AND q.status = 'held' LIMIT 1",
            (unit,),
        ).fetchone()
    finally:
        conn.close()
    return str(row[0])


async def background(config: Any) -> tuple[int, float, int, float]:
    """The console's two background jobs as `mailmon run` runs them, on a batch store: timed apart."""
    store = AsyncStore(config.storage.database, name="batch-store")
    await store.open()
    try:
        tz = ZoneInfo("Asia/Ho_Chi_Minh")
        t0 = time.perf_counter()
        evaluated = await refresh(store, config.account_profile(), Calendar(), tz)
        refresh_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        counted = await count_findings(store, tz)
        return evaluated, refresh_s, counted, time.perf_counter() - t0
    finally:
        await store.close()


def timed(port: int, path: str, cookie: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": f"mailmon_session={cookie}"})
        response = conn.getresponse()
        response.read()
        out.append((time.perf_counter() - t0) * 1000)
        assert response.status == 200, (path, response.status)
    conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boxes", type=int, default=100_000)
    parser.add_argument("--findings", type=int, default=1_000_000)
    parser.add_argument("--quarantine", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailmon-bench-console-"))
    rng = random.Random(7)
    try:
        config_path = work / "config.toml"
        config_path.write_text(
            '[organization]\nlocal_domains = ["example.gov.vn"]\n'
            f'[storage]\ndatabase = "{work / "db.sqlite3"}"\nspool_dir = "{work / "spool"}"\n'
            f'quarantine_dir = "{work / "quarantine"}"\n'
            '[web]\nlisten = "127.0.0.1:0"\nsecure_cookies = false\nadmins = ["boss@example.gov.vn"]\n',
            encoding="utf-8",
        )
        config = load_config(config_path)
        store = Store(config.storage.database)
        t0 = time.perf_counter()
        populate(store, args, work, rng)
        records = store.console_sessions
        records.open_session(session_key("admin"), "boss@example.gov.vn", "t", now_utc(), "127.0.0.1")
        records.open_session(session_key("contact"), "it.dv7@example.gov.vn", "t", now_utc(), "127.0.0.1")
        store.close()
        qid = held_of_unit(config.storage.database, "dv7")
        print(
            f"filled: {args.boxes:,} mailboxes in {UNITS} units, {args.findings:,} findings over a year, "
            f"{args.quarantine:,} quarantined messages, 200 held senders, 10,000 audit rows "
            f"in {time.perf_counter() - t0:.0f}s (not timed)"
        )
        evaluated, refresh_s, counted, count_s = asyncio.run(background(config))
        print(f"background evaluation of {evaluated:,} mailboxes for the mailboxes page: {refresh_s:.1f}s")
        print(f"first count of {counted:,} findings by day, unit and rule for the overview: {count_s:.1f}s")
        asyncio.run(serve_and_time(config, config_path, qid, args.requests, refresh_s, count_s))
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def serve_and_time(config: object, config_path: Path, qid: str, n: int, refresh_s: float, count_s: float) -> None:
    server = ConsoleServer(lambda: config, config_path, lambda: {"reinject": True})  # type: ignore[arg-type, return-value]
    assert await server.start()
    assert server.server is not None
    port = server.server.servers[0].sockets[0].getsockname()[1]
    pages = [
        ("overview", "/"),
        ("quarantine", "/quarantine"),
        ("quarantine_all_page2", "/quarantine?status=all&before=2026-01-01T00:00:00%2B00:00|z"),
        ("quarantine_by_address", "/quarantine?status=all&address=p5%40gmail.com"),
        ("message", f"/quarantine/{qid}"),
        ("mailboxes", "/mailboxes"),
        ("mailboxes_state", "/mailboxes?state=active&after=u5"),
        ("mailboxes_unit", "/mailboxes?unit=dv7"),
        ("senders", "/senders"),
        ("reports", "/reports"),
        ("audit", "/audit"),
        ("static", "/static/console.css"),
    ]

    def run() -> list[tuple[str, str, float, float]]:
        rows = []
        for role, cookie in (("admin", "admin"), ("contact", "contact")):
            for name, path in pages:
                timed(port, path, cookie, 3)  # warm-up
                samples = sorted(timed(port, path, cookie, n))
                p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
                rows.append((role, name, statistics.median(samples), p95))
        return rows

    rows = await asyncio.to_thread(run)
    await server.stop()
    static = {role: p95 for role, name, _, p95 in rows if name == "static"}
    print(f"\n{'role':8} {'page':24} {'p50 ms':>8} {'p95 ms':>8} {'x static':>9}")
    for role, name, p50, p95 in rows:
        print(f"{role:8} {name:24} {p50:8.1f} {p95:8.1f} {p95 / static[role]:9.1f}")
    worst = max(p95 for _, name, _, p95 in rows if name != "static")
    for role, name, _, p95 in rows:
        print(f"RESULT console_{role}_{name}_p95_ms={p95:.1f}")
    print(f"RESULT console_worst_p95_ms={worst:.1f}")
    print(f"RESULT console_mailbox_view_refresh_s={refresh_s:.1f}")
    print(f"RESULT console_first_finding_count_s={count_s:.1f}")
    print(f"target: every page within 200 ms at p95: {'met' if worst <= 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
