"""`mailmon ingest dovecot-log`: login activity from Dovecot's log files, each line counted once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.cli.common import open_store
from monitor.config import Config
from monitor.mailboxes.dovecot_log import ingest_file


def run(config: Config, args: Any) -> int:
    files = [Path(f) for f in args.files]


    store = open_store(config)
    tz = ZoneInfo(config.organization.timezone)
    status = 0
    for path in files:
        try:
            report = ingest_file(store, path, config.dovecot.master_user, tz)
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            status = 1
            continue
        print(
            f"{path}: {report.lines} dòng / lines, {report.new_events} sự kiện mới / new events, "
            f"{report.duplicates} đã có / already known"
        )
    return status
