"""Log ingestion, side by side: mailmon's Dovecot log ingester vs fail2ban-regex (stock dovecot filter).

    .venv/bin/python bench/ingest.py [--lines 1000000]

Generates a Dovecot log in the real file format (logins, failures, disconnects, monitor logins,
LMTP deliveries and other noise), ingests it into a fresh SQLite store, runs `fail2ban-regex` with
Debian's /etc/fail2ban/filter.d/dovecot.conf on the same file, and prints lines/s and the ratio.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.mailboxes.dovecot_log import ingest_file
from monitor.store import Store

USERS = [f"user{i}.stttt@example.gov.vn" for i in range(500)]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def generate(path: Path, n: int) -> None:
    rng = random.Random(1)
    t = datetime(2026, 11, 2, 7, 0, 0)
    with path.open("w") as f:
        for i in range(n):
            t += timedelta(milliseconds=40)
            ts = t.strftime("%Y-%m-%d %H:%M:%S ")
            u = rng.choice(USERS)
            s = "".join(rng.choice(ALPHABET) for _ in range(16))
            ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            k = rng.random()
            if k < 0.20:
                body = (
                    f"imap-login: Info: Login: user=<{u}>, method=PLAIN, rip={ip}, lip=10.0.0.2, mpid={i % 30000}, "
                    f"TLS, session=<{s}>, orig_user=<{u}>"
                )
            elif k < 0.25:
                body = (
                    f"imap-login: Info: Login: user=<{u}>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, "
                    f"mpid={i % 30000}, secured, session=<{s}>, orig_user=<monitor>"
                )
            elif k < 0.30:
                body = f"auth: Info: passwd-file({u},{ip},<{s}>): Password mismatch"
            elif k < 0.35:
                body = (
                    f"imap-login: Info: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): "
                    f"user=<{u}>, method=PLAIN, rip={ip}, lip=10.0.0.2, TLS, session=<{s}>, orig_user=<{u}>"
                )
            elif k < 0.60:
                body = (
                    f"imap({u})<{i % 30000}><{s}>: Info: Disconnected: Logged out in=58 out=935 deleted=0 "
                    "expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0"
                )
            elif k < 0.85:
                body = f"lmtp({u})<{i % 30000}><{s}>: Info: msgid=<{s}@example.gov.vn>: saved mail to INBOX"
            else:
                body = (
                    f"imap-login: Info: Disconnected: Connection closed (no auth attempts in 0 secs): user=<>, "
                    f"rip={ip}, lip=10.0.0.2, TLS, session=<{s}>"
                )
            f.write(ts + body + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailmon-bench-ingest-"))
    log = work / "dovecot.log"
    generate(log, args.lines)
    store = Store(work / "db.sqlite3")
    t0 = time.perf_counter()
    report = ingest_file(store, log, "monitor", ZoneInfo("Asia/Ho_Chi_Minh"))
    ours = time.perf_counter() - t0
    print(
        f"mailmon ingest: {report.lines:,} lines, {report.new_events:,} events in {ours:.2f}s "
        f"= {report.lines / ours:,.0f} lines/s"
    )
    f2b = shutil.which("fail2ban-regex")
    theirs = None
    if f2b:
        t0 = time.perf_counter()
        out = subprocess.run([f2b, str(log), "/etc/fail2ban/filter.d/dovecot.conf"], capture_output=True, text=True)
        theirs = time.perf_counter() - t0
        matched = next((ln for ln in out.stdout.splitlines() if ln.startswith("Lines:")), "").strip()
        print(f"fail2ban-regex: {matched} in {theirs:.2f}s = {args.lines / theirs:,.0f} lines/s")
    else:
        print("fail2ban-regex not installed (apt-get install fail2ban)")
    line = f"RESULT ingest_lines_per_s={report.lines / ours:.0f}"
    if theirs:
        line += f" fail2ban_lines_per_s={args.lines / theirs:.0f} ingest_vs_fail2ban={theirs / ours:.2f}"
    print(line)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
