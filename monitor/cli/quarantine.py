"""`mailmon quarantine`: list, show, release or delete quarantined messages."""

from __future__ import annotations

import json
import os
import pwd
import sys
from typing import Any

from monitor.cli.common import open_store
from monitor.config import Config
from monitor.smtp.quarantine import Quarantine, ReleaseRaced


def run(config: Config, args: Any) -> int:
    store = open_store(config)
    quarantine = Quarantine.of(config)
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
        data = quarantine.read(store, entry)
        if data is None:
            print(f"{args.id}: thư không còn / the message is gone (status {entry['status']})", file=sys.stderr)
            return 1
        sys.stdout.write(data.decode("utf-8", "replace"))
        return 0
    if args.qcommand == "delete":
        quarantine.delete(store, args.id)
        print(f"đã xoá / deleted {args.id}")
        return 0
    status = entry["status"]
    if status == "rejected" and not args.rejected_copy:
        print(
            f"{args.id} là bản lưu của thư đã bị từ chối / is the kept copy of a rejected message: its sender "
            'was told it was not delivered. Release it with --rejected-copy --reason "..."',
            file=sys.stderr,
        )
        return 1
    if status not in ("held", "rejected"):
        print(f"{args.id} không thể chuyển / cannot be released: status {status}", file=sys.stderr)
        return 1
    if status == "rejected" and not args.reason.strip():
        print("--rejected-copy cần lý do / needs --reason", file=sys.stderr)
        return 1
    try:
        reply = quarantine.release(config, store, entry)
    except (ReleaseRaced, KeyError):
        print(f"{args.id} vừa được người khác xử lý / was just handled by someone else", file=sys.stderr)
        return 1
    store.releases.record(args.id, operator(), args.reason.strip(), status, reply)
    print(f"đã chuyển / released {args.id}: {reply}")
    return 0


def operator() -> str:
    """Who runs the command: the login behind sudo if any, else this process's user."""
    user = pwd.getpwuid(os.getuid()).pw_name
    sudo = os.environ.get("SUDO_USER", "")
    return f"{sudo} (sudo, as {user})" if sudo and sudo != user else user
