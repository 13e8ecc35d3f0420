"""The `mailmon` command line: the parser, and one module per command beside it (`monitor/cli/<command>.py`)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Any

from monitor.cli import terminal

# The command modules are imported only when they run: the filter's worker processes start by
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

    requests = sub.add_parser(
        "requests", parents=[common], help="a unit's requests to the IT department (create, reset…) and their deadlines"
    )
    rsub = requests.add_subparsers(dest="rcommand", required=True)
    radd = rsub.add_parser("add", parents=[common], help="record a unit's request")
    radd.add_argument("--kind", required=True, choices=("create", "change", "reset", "close", "restore"))
    radd.add_argument("--mailbox", required=True, help="the mailbox the request is about")
    radd.add_argument("--unit", required=True, help="the requesting unit (its code in the directory)")
    radd.add_argument("--at", metavar="WHEN", help="when the IT department got it (YYYY-MM-DD[THH:MM]; default now)")
    radd.add_argument("--note", default="", help="e.g. the request document's number")
    rdone = rsub.add_parser("done", parents=[common], help="record that a request was carried out")
    rdone.add_argument("id", type=int)
    rdone.add_argument("--at", metavar="WHEN", help="when it was done (YYYY-MM-DD[THH:MM]; default now)")
    rdone.add_argument("--note", default="")
    rlist = rsub.add_parser("list", parents=[common], help="requests with their due days under the profile")
    rlist.add_argument("--unit", help="only this unit")
    rlist.add_argument("--open", action="store_true", help="only requests not done yet")
    rlist.add_argument("--overdue", action="store_true", help="only open requests past their due day")
    rlist.add_argument("--as-of", type=date.fromisoformat, metavar="DATE", help="as of this day (YYYY-MM-DD)")
    rlist.add_argument("--json", action="store_true")

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
        if name == "release":
            q.add_argument(
                "--rejected-copy",
                action="store_true",
                help="release the kept copy of a message that was rejected (its sender was told it was not sent)",
            )
            q.add_argument("--reason", default="", help="why it is released (recorded; required with --rejected-copy)")

    store = sub.add_parser("store", parents=[common], help="the store itself: move it to PostgreSQL")
    stsub = store.add_subparsers(dest="stcommand", required=True)
    smigrate = stsub.add_parser(
        "migrate", parents=[common], help="copy the SQLite store ([storage] database) into PostgreSQL; can be re-run"
    )
    smigrate.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host:port/dbname")
    smigrate.add_argument(
        "--password-file", type=Path, help="the PostgreSQL password (default: [storage] password_file)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from monitor.cli.check_config import cmd_check_config, print_config_errors
    from monitor.config import EX_CONFIG, ConfigError, load_config, resolve_path
    from monitor.store.files import private_umask

    args = build_parser().parse_args(argv)
    terminal.install()  # before logging binds stderr: log lines are escaped too
    private_umask()  # what any command creates is 0600/0700, whatever umask it was started with
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
        print_config_errors(exc)
        return EX_CONFIG
    if args.command in ("filter", "run"):
        from monitor.service.daemon import run_daemon

        return run_daemon(resolve_path(args.config), config, jobs=args.command == "run")
    # One module per command, imported only when it runs.
    module = importlib.import_module(f"monitor.cli.{args.command}")
    result: int = module.run(config, args)
    return result
