"""`mailmon sweep`: read every mailbox once as Dovecot's master user (IMAP and ManageSieve)."""

from __future__ import annotations

from typing import Any

from monitor.cli.common import open_store
from monitor.config import Config
from monitor.mailboxes.sweep import sweep


def run(config: Config, args: Any) -> int:
    report = sweep(config, open_store(config), args.only)
    print(f"{report.boxes} hộp thư / mailboxes in {report.seconds:.1f}s; {report.errors} lỗi / errors")
    return 1 if report.errors else 0
