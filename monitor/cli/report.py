"""`mailmon report`: the yearly (or monthly) report per unit, as HTML or CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from exporters.reports.report import build_report
from monitor.cli.common import open_store
from monitor.config import Config
from monitor.mailboxes.calendar import calendar_for


def run(config: Config, args: Any) -> int:
    tz = ZoneInfo(config.organization.timezone)
    data = build_report(
        open_store(config),
        args.period,
        args.unit,
        args.format,
        tz=tz,
        profile=config.account_profile(),
        calendar=calendar_for(config.calendar),
    )
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"đã ghi / written {args.output} ({len(data):,} bytes)")
    elif sys.stdout.isatty():  # read on screen: through the escaping text stream
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        sys.stdout.buffer.write(data)
    return 0
