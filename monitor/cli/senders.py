"""`mailmon senders`: senders held for unusual sending; list and release."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from monitor.cli.common import open_store
from monitor.config import Config
from monitor.smtp import sending_windows


def run(config: Config, args: Any) -> int:
    store = open_store(config)
    now = datetime.now(UTC)
    if args.scommand == "release":
        if sending_windows.release_sender(store, args.address, now):
            print(f"đã cho gửi lại / released {args.address}")
            return 0
        print(f"không bị giữ / not held: {args.address}", file=sys.stderr)
        return 1
    rows = sending_windows.held_senders(store, now)
    for r in rows:
        print(f"{r.sender}  từ / since {r.since}  đến / until {r.until}  {r.reason}")
    print(f"{len(rows)} người gửi bị giữ / held senders")
    return 0
