"""The account rules over many mailboxes and login events, from the store, as `mailmon mailboxes` runs them.

.venv/bin/python bench/account_rules.py [--boxes 100000] [--events 10000000] [--profile dn-2022]

--profile lc-2015 times the check windows too (each login's time of day against the office hours).

The events go into the store the way the log ingester puts them there (store.logins.record_events,
which also keeps the per-user-per-day login_days rows); that load is not timed. Timed: gathering
every mailbox's facts from the store and evaluating the account rules over them.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import evaluate_mailboxes, gather_facts, load_account_profile
from monitor.store import Store

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boxes", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--profile", default="dn-2022", help="the regulation whose rules run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailmon-bench-accounts-"))
    store = Store(work / "db.sqlite3")
    rng = random.Random(3)
    now = datetime(2026, 11, 20, 17, 0, tzinfo=TZ)
    kinds = ["personal"] * 90 + ["unit"] * 8 + ["agency", "admin"]
    t0 = time.perf_counter()
    units = [{"unit": f"dv{u}", "name": f"Đơn vị {u}", "parent": None, "it_contact": "[]"} for u in range(500)]
    store.mailboxes.import_directory(
        units,
        [
            {
                "address": f"u{i}.dv{i % 500}@example.gov.vn",
                "display_name": f"Nguyễn Văn {i}",
                "unit": f"dv{i % 500}",
                "kind": rng.choice(kinds),
                "status": "active",
                "created_at": "2024-01-01",
                "password_changed_at": (now - timedelta(days=rng.randint(0, 200))).date().isoformat(),
                "quota_mb": 1024,
            }
            for i in range(args.boxes)
        ],
    )
    start = now - timedelta(days=180)
    rows = (
        (
            (start + timedelta(seconds=rng.randint(0, 180 * 86400))).isoformat(),
            (lambda b: f"u{b}.dv{b % 500}@example.gov.vn")(rng.randrange(args.boxes)),
            "imap",
            "login",
            0,
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.1",
            f"s{i}",
            0,
        )
        for i in range(args.events)
    )
    store.logins.record_events(rows)  # what the log ingester stores: the events and their login_days rows
    print(
        f"loaded {args.boxes:,} mailboxes and {args.events:,} login events (with login_days, as the ingester "
        f"keeps them) in {time.perf_counter() - t0:.1f}s; timed: gather_facts + evaluate_mailboxes"
    )
    profile = load_account_profile(args.profile)
    t0 = time.perf_counter()
    boxes = gather_facts(store, now, TZ, profile)
    t1 = time.perf_counter()
    reports = evaluate_mailboxes(boxes, profile, now, Calendar())
    t2 = time.perf_counter()
    findings = sum(len(r.findings) for r in reports)
    print(f"facts {t1 - t0:.2f}s, rules {t2 - t1:.2f}s, {findings:,} findings over {len(reports):,} mailboxes")
    print(
        f"RESULT account_rules_s={t2 - t0:.2f} account_rules_boxes={args.boxes} account_rules_events={args.events} "
        f"account_rules_profile={args.profile}"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
