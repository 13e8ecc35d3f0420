"""The `mailmon` command line: check-config, scan, filter, quarantine."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config import Config, ConfigError

# Imports of the commands stay inside the functions: the filter's worker processes start by
# importing this module again (multiprocessing "spawn"), and a worker needs none of them —
# not even pydantic (about 10 MB a worker).

EX_USAGE_INPUT = 2
log = logging.getLogger("mailmon")


def _common(sub: bool) -> argparse.ArgumentParser:
    """--config and -v, accepted before or after the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    # A subcommand must not reset what was given before it: its defaults are suppressed.
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    common.add_argument(
        "--config",
        metavar="FILE",
        help="configuration file (default /etc/mailmon/config.toml, else ./config.toml)",
        **default,
    )
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging", **default)
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailmon",
        description="Giám sát tuân thủ quy chế thư điện tử công vụ / Compliance monitor for official mail",
        parents=[_common(sub=False)],
    )
    common = _common(sub=True)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", parents=[common], help="validate a config file (exit 78 if bad)")
    check.add_argument("file", nargs="?", help="the file to check (default: --config or the default path)")

    scan = sub.add_parser("scan", parents=[common], help="evaluate one message offline")
    scan.add_argument("--mail-from", default="", help="envelope sender")
    scan.add_argument("--rcpt", action="append", default=[], help="envelope recipient (repeat)")
    scan.add_argument("--json", action="store_true", help="print one JSON object")
    scan.add_argument("file", help="the message (.eml), or - for standard input")

    sub.add_parser("filter", parents=[common], help="run the SMTP content filter alone")
    sub.add_parser("run", parents=[common], help="run everything: filter, log follower, sweeps, jobs (the service)")

    directory = sub.add_parser("directory", parents=[common], help="the directory of units and mailboxes")
    dsub = directory.add_subparsers(dest="dcommand", required=True)
    dimport = dsub.add_parser("import", parents=[common], help="import units.csv and mailboxes.csv")
    dimport.add_argument("units_csv")
    dimport.add_argument("mailboxes_csv")

    boxes = sub.add_parser("mailboxes", parents=[common], help="every mailbox with its state and findings")
    boxes.add_argument("--unit", help="only this unit")
    boxes.add_argument(
        "--status", help="only this state (active, suspend-due, removal-due, suspended, departed, removed)"
    )
    boxes.add_argument("--as-of", type=date.fromisoformat, metavar="DATE", help="evaluate as of this day (YYYY-MM-DD)")
    boxes.add_argument("--json", action="store_true")

    senders = sub.add_parser("senders", parents=[common], help="senders held for unusual sending")
    ssub = senders.add_subparsers(dest="scommand", required=True)
    ssub.add_parser("list", parents=[common], help="held senders")
    srelease = ssub.add_parser("release", parents=[common], help="let a held sender send again")
    srelease.add_argument("address")

    sweep = sub.add_parser("sweep", parents=[common], help="read every mailbox once (IMAP quota, unread, Sieve)")
    sweep.add_argument("--only", metavar="ADDRESS", help="just this mailbox")

    report = sub.add_parser("report", parents=[common], help="the yearly (or monthly) report per unit")
    report.add_argument("--period", required=True, help="2026 or 2026-11")
    report.add_argument("--unit", help="only this unit")
    report.add_argument("--format", choices=("html", "csv"), default="html")
    report.add_argument("-o", "--output", help="file to write (default: standard output)")

    ingest = sub.add_parser("ingest", parents=[common], help="ingest logs once")
    isub = ingest.add_subparsers(dest="icommand", required=True)
    dlog = isub.add_parser("dovecot-log", parents=[common], help="Dovecot log files (file or syslog format)")
    dlog.add_argument("files", nargs="+")

    quarantine = sub.add_parser("quarantine", parents=[common], help="list, show, release or delete")
    qsub = quarantine.add_subparsers(dest="qcommand", required=True)
    qlist = qsub.add_parser("list", parents=[common], help="messages held in quarantine")
    qlist.add_argument("--all", action="store_true", help="also released, deleted and rejected copies")
    qlist.add_argument("--json", action="store_true")
    for name, text in (("show", "print one message"), ("release", "deliver it"), ("delete", "remove it")):
        q = qsub.add_parser(name, parents=[common], help=text)
        q.add_argument("id")
    return parser


def main(argv: list[str] | None = None) -> int:
    from monitor.config import EX_CONFIG, ConfigError, load_config, resolve_path

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiosmtpd logs every SMTP command at INFO (addresses included); keep only its warnings.
    logging.getLogger("mail.log").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if args.command == "check-config":
        return cmd_check_config(Path(args.file) if args.file else resolve_path(args.config))
    try:
        config = load_config(resolve_path(args.config))
    except ConfigError as exc:
        _print_config_errors(exc)
        return EX_CONFIG
    if args.command == "scan":
        from monitor.scan import cmd_scan

        return cmd_scan(config, args.file, args.mail_from, args.rcpt, as_json=args.json)
    if args.command in ("filter", "run"):
        from monitor.daemon import run_daemon

        return run_daemon(resolve_path(args.config), config, jobs=args.command == "run")
    if args.command == "quarantine":
        return cmd_quarantine(config, args)
    if args.command == "directory":
        return cmd_directory_import(config, Path(args.units_csv), Path(args.mailboxes_csv))
    if args.command == "mailboxes":
        return cmd_mailboxes(config, args)
    if args.command == "report":
        from exporters.report import build_report
        from monitor.store import Store

        data = build_report(Store(config.storage.database), args.period, args.unit, args.format)
        if args.output:
            Path(args.output).write_bytes(data)
            print(f"đã ghi / written {args.output} ({len(data):,} bytes)")
        else:
            sys.stdout.buffer.write(data)
        return 0
    if args.command == "senders":
        return cmd_senders(config, args)
    if args.command == "sweep":
        from monitor.poller import sweep
        from monitor.store import Store

        report = sweep(config, Store(config.storage.database), args.only)
        print(f"{report.boxes} hộp thư / mailboxes in {report.seconds:.1f}s; {report.errors} lỗi / errors")
        return 1 if report.errors else 0
    if args.command == "ingest":
        return cmd_ingest(config, [Path(f) for f in args.files])
    raise AssertionError(args.command)


def _print_config_errors(exc: ConfigError) -> None:
    print(f"{exc.path}: cấu hình không hợp lệ / invalid configuration:", file=sys.stderr)
    for error in exc.errors:
        print(f"  {error}", file=sys.stderr)


def cmd_check_config(path: Path) -> int:
    from monitor.config import EX_CONFIG, ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        _print_config_errors(exc)
        return EX_CONFIG
    print(f"{path}: OK (profile {config.profile.name}, local domains {', '.join(config.organization.local_domains)})")
    return 0


def cmd_directory_import(config: Config, units_csv: Path, mailboxes_csv: Path) -> int:
    from monitor.accounts import record_status_changes
    from monitor.directory import import_csv
    from monitor.store import Store

    store = Store(config.storage.database)
    report = import_csv(store, units_csv, mailboxes_csv)
    record_status_changes(store)
    for error in report.errors:
        print(error, file=sys.stderr)
    print(
        f"đã nhập / imported {report.units} đơn vị / units, {report.mailboxes} hộp thư / mailboxes; "
        f"{len(report.errors)} dòng lỗi / bad rows"
    )
    return 1 if report.errors else 0


def cmd_mailboxes(config: Config, args: Any) -> int:
    from zoneinfo import ZoneInfo

    from monitor.accounts import as_of_moment, evaluate_mailboxes, gather_facts, load_account_profile
    from monitor.calendar import Calendar
    from monitor.store import Store

    tz = ZoneInfo(config.organization.timezone)
    now = as_of_moment(args.as_of, tz)
    store = Store(config.storage.database)
    profile = load_account_profile(config.profile.name)
    boxes = [b for b in gather_facts(store, now, tz, profile) if not args.unit or b.unit == args.unit]
    reports = evaluate_mailboxes(boxes, profile, now, Calendar())
    reports = [r for r in reports if not args.status or r.state == args.status]
    if args.json:
        print(json.dumps([r.as_json() for r in reports], ensure_ascii=False, indent=2))
        return 0
    for r in reports:
        last = r.facts.last_login.date().isoformat() if r.facts.last_login else "-"
        print(f"{r.facts.address:<40} {r.facts.unit:<12} {r.state:<12} last login {last}")
        for f in r.findings:
            print(f"    {f.rule} ({f.citation}): {f.detail}")
    print(f"{len(reports)} hộp thư / mailboxes")
    return 0


def cmd_senders(config: Config, args: Any) -> int:
    from datetime import UTC, datetime

    from monitor import ratelimit
    from monitor.store import Store

    store = Store(config.storage.database)
    now = datetime.now(UTC)
    if args.scommand == "release":
        if ratelimit.release(store, args.address, now):
            print(f"đã cho gửi lại / released {args.address}")
            return 0
        print(f"không bị giữ / not held: {args.address}", file=sys.stderr)
        return 1
    rows = ratelimit.held_list(store, now)
    for r in rows:
        print(f"{r['sender']}  từ / since {r['since']}  đến / until {r['until']}  {r['reason']}")
    print(f"{len(rows)} người gửi bị giữ / held senders")
    return 0


def cmd_ingest(config: Config, files: list[Path]) -> int:
    from zoneinfo import ZoneInfo

    from monitor.dovecot_log import ingest_file
    from monitor.store import Store

    store = Store(config.storage.database)
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


def cmd_quarantine(config: Config, args: Any) -> int:
    from monitor.quarantine import Quarantine
    from monitor.release import release
    from monitor.store import Store

    store = Store(config.storage.database)
    quarantine = Quarantine(config.storage.quarantine_dir)
    if args.qcommand == "list":
        rows = store.quarantine(None if args.all else "held")
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
    entry = store.quarantine_entry(args.id)
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
    reply = release(config, store, quarantine, entry)
    print(f"đã chuyển / released {args.id}: {reply}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
