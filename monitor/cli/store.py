"""`mailmon store migrate --to postgresql://…`: copy the SQLite store into PostgreSQL (monitor/store/copy.py).

Run it with the service stopped for a copy that is whole at once, or while it runs and again after
stopping it: the second run only adds and updates what changed. Then set ``[storage] url`` (and
``password_file``) in config.toml and start the service on PostgreSQL.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from monitor.config import Config, ConfigError, postgres_url, read_secret
from monitor.store import Store
from monitor.store.copy import copy_sqlite_store


def run(config: Config, args: Any) -> int:
    storage = config.storage
    try:
        url = postgres_url(args.to)
    except ValueError as exc:
        print(f"--to: {exc}", file=sys.stderr)
        return 2
    if not storage.database.exists():
        print(f"không có kho SQLite / no SQLite store at {storage.database}", file=sys.stderr)
        return 1
    password_file = args.password_file or storage.password_file
    try:
        password = read_secret(password_file, "--password-file") if password_file else None
    except ConfigError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return 1
    started = time.monotonic()
    target = Store(url, lock_timeout=storage.lock_timeout_seconds, password=password)  # migrated on open
    in_database = storage.quarantine_in != "files"  # PostgreSQL keeps the bytes unless told otherwise
    try:
        copied = copy_sqlite_store(
            storage.database,
            target.database,
            quarantine_in_database=in_database,
            lock_timeout=storage.lock_timeout_seconds,
            progress=print,
        )
    finally:
        target.close()
    short = [c for c in copied if c.target_rows < c.source_rows]
    rows = sum(c.source_rows for c in copied)
    print(f"đã chép / copied {rows} rows of {len(copied)} tables in {time.monotonic() - started:.1f}s")
    for c in short:
        print(f"THIẾU / MISSING {c.table}: {c.source_rows - c.target_rows} rows", file=sys.stderr)
    if short:
        return 1
    print("Chạy lại được bất cứ lúc nào / safe to run again. Next: [storage] url = the target, then restart.")
    return 0
