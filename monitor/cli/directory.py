"""`mailmon directory import`: units and mailboxes from CSV, in one transaction."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from monitor.cli.common import open_store
from monitor.config import Config
from monitor.mailboxes.directory import import_csv
from monitor.mailboxes.evaluate import record_status_changes


def run(config: Config, args: Any) -> int:
    units_csv, mailboxes_csv = Path(args.units_csv), Path(args.mailboxes_csv)

    store = open_store(config)
    report = import_csv(store, units_csv, mailboxes_csv)
    record_status_changes(store)
    for error in report.errors:
        print(error, file=sys.stderr)
    print(
        f"đã nhập / imported {report.units} đơn vị / units, {report.mailboxes} hộp thư / mailboxes; "
        f"{len(report.errors)} dòng lỗi / bad rows"
    )
    return 1 if report.errors else 0
