"""`mailmon quarantine`: list, show, release or delete quarantined messages."""

from __future__ import annotations

import json
import sys
from typing import Any

from monitor.cli.common import open_store
from monitor.config import Config
from monitor.smtp.quarantine import Quarantine


def run(config: Config, args: Any) -> int:
    store = open_store(config)
    quarantine = Quarantine(config.storage.quarantine_dir)
    if args.qcommand == "list":
        rows = store.quarantine.entries(None if args.all else "held")
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            for r in rows:
                print(
                    f"{r['id']}  {r['status']:<9} {r['time']}  {r['mail_from'] or '<>'} -> {', '.join(r['rcpt_tos'])}"
                )
                print(f"    {r['reason']}")
            print(f"{len(rows)} thư / message(s)")
        return 0
    entry = store.quarantine.entry(args.id)
    if entry is None:
        print(f"không có / no such quarantine id: {args.id}", file=sys.stderr)
        return 1
    if args.qcommand == "show":
        sys.stdout.write(quarantine.read(entry).decode("utf-8", "replace"))
        return 0
    if args.qcommand == "delete":
        quarantine.delete(store, args.id)
        print(f"đã xoá / deleted {args.id}")
        return 0
    reply = quarantine.release(config, store, entry)
    print(f"đã chuyển / released {args.id}: {reply}")
    return 0
