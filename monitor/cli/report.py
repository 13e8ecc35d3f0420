"""`mailmon report`: the yearly (or monthly) report per unit, as HTML or CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from exporters.reports.report import build_report
from monitor.config import Config
from monitor.store import Store


def run(config: Config, args: Any) -> int:
    profile = config.account_profile()
    data = build_report(Store(config.storage.database), args.period, args.unit, args.format, profile=profile)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"đã ghi / written {args.output} ({len(data):,} bytes)")
    elif sys.stdout.isatty():  # read on screen: through the escaping text stream
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        sys.stdout.buffer.write(data)
    return 0
