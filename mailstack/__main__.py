"""Command line: run a mail stack for the demo.

    python -m mailstack up --root DIR [--with-clamd] [--user ADDR=PASSWORD ...]
    python -m mailstack status --root DIR
    python -m mailstack down --root DIR

``up`` starts ``serve`` in the background (its own session, output in DIR/mailstack.out), waits
until the stack answers and prints the ports, which are also in DIR/ports.json (DIR/stack.json
adds log/config paths and the accounts). ``serve`` runs in the foreground until SIGTERM/SIGINT.
``down`` signals the server and waits until it has stopped everything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from mailstack.stack import DEFAULT_MASTER_USER, MailStack
from mailstack.util import StackError, pid_alive, poll, run, tail, which

PORTS_FILE = "ports.json"
STACK_FILE = "stack.json"
PID_FILE = "mailstack.pid"
OUT_FILE = "mailstack.out"


def _users(pairs: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    users = {}
    for pair in pairs:
        address, sep, password = pair.partition("=")
        if not sep:
            raise SystemExit(f"--user wants ADDRESS=PASSWORD, got {pair!r}")
        users[address] = password
    return users


def _stack_from_args(args: argparse.Namespace) -> MailStack:
    return MailStack(
        args.root,
        local_domains=args.domain or ("example.gov.vn",),
        users=_users(args.user),
        master_user=(args.master_user, args.master_password),
        with_clamd=args.with_clamd,
        message_size_limit=args.message_size_limit,
    )


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _describe(stack: MailStack) -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "ports": stack.ports.as_dict(),
        "local_domains": list(stack.local_domains),
        "accounts": stack.accounts,
        "master_user": list(stack.master_user),
        "postfix_config_dir": str(stack.postfix_config_dir),
        "postfix_log": str(stack.postfix_log),
        "dovecot_conf": str(stack.dovecot_conf),
        "dovecot_log": str(stack.dovecot_log),
        "sink_dir": str(stack.sink_dir),
        "clamd_log": str(stack.clamd_log) if stack.clamd_log else None,
    }


def cmd_serve(args: argparse.Namespace) -> int:
    root: Path = args.root.absolute()
    for name in (PORTS_FILE, STACK_FILE, PID_FILE):
        (root / name).unlink(missing_ok=True)
    stack = _stack_from_args(args)
    # Python-level handlers (not pthread_sigmask + sigwait: a blocked mask would be inherited by
    # Dovecot and clamd, which then ignore the SIGTERM that stops them)
    received: list[int] = []
    stop_requested = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        stop_requested.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        stack.start(timeout=args.timeout)
    except StackError as exc:
        print(f"mailstack: start failed: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        _write_json(root / STACK_FILE, _describe(stack))
        (root / PID_FILE).write_text(f"{os.getpid()}\n")
        stack.ports.write(root / PORTS_FILE)  # last: its presence means "ready"
        print(f"mailstack: up, ports {stack.ports.as_dict()}", flush=True)
        while not stop_requested.wait(1):
            pass
        print(f"mailstack: got {signal.Signals(received[0]).name}, stopping", flush=True)
    finally:
        for name in (PORTS_FILE, STACK_FILE):
            (root / name).unlink(missing_ok=True)
        stack.stop()
        (root / PID_FILE).unlink(missing_ok=True)
        print("mailstack: stopped", flush=True)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    root: Path = args.root.absolute()
    root.mkdir(parents=True, exist_ok=True)
    pid = _server_pid(root)
    if pid is not None:
        print(f"mailstack: already running under {root} (pid {pid})", file=sys.stderr)
        return 1
    (root / PORTS_FILE).unlink(missing_ok=True)
    argv = [sys.executable, "-m", "mailstack", "serve", *args.passthrough]
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    out_path = root / OUT_FILE
    with out_path.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + args.timeout + 10
    while not (root / PORTS_FILE).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
            print(f"mailstack: up failed\n{tail(out_path, 40)}", file=sys.stderr)
            return 1
        time.sleep(0.1)
    print((root / PORTS_FILE).read_text(), end="")
    return 0


def _server_pid(root: Path) -> int | None:
    try:
        pid = int((root / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def cmd_down(args: argparse.Namespace) -> int:
    root: Path = args.root.absolute()
    pid = _server_pid(root)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not poll(lambda: not pid_alive(pid), args.timeout, interval=0.1):
            print(f"mailstack: server pid {pid} did not stop", file=sys.stderr)
            return 1
    # a server killed with SIGKILL leaves Postfix (a daemon) behind: stop it by its config dir
    master_pid = root / "postfix" / "spool" / "pid" / "master.pid"
    try:
        leftover = int(master_pid.read_text().strip())
    except (OSError, ValueError):
        leftover = 0
    if leftover and pid_alive(leftover):
        run([which("postfix"), "-c", str(root / "postfix" / "etc"), "stop"], check=False)
        print(f"mailstack: stopped a leftover Postfix master (pid {leftover})")
    print("mailstack: down" if pid is not None else f"mailstack: no server running under {root}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    root: Path = args.root.absolute()
    pid = _server_pid(root)
    if pid is None:
        print(f"mailstack: not running under {root}")
        return 1
    print(f"mailstack: running (pid {pid})")
    print((root / PORTS_FILE).read_text(), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mailstack", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "serve", "down", "status"):
        p = sub.add_parser(name)
        p.add_argument("--root", type=Path, required=True, help="directory for everything")
        p.add_argument("--timeout", type=float, default=30)
        if name in ("up", "serve"):
            p.add_argument("--domain", action="append", help="local domain (repeatable)")
            p.add_argument("--user", action="append", default=[], metavar="ADDRESS=PASSWORD")
            p.add_argument("--master-user", default=DEFAULT_MASTER_USER[0])
            p.add_argument("--master-password", default=DEFAULT_MASTER_USER[1])
            p.add_argument("--with-clamd", action="store_true")
            p.add_argument("--message-size-limit", type=int, default=64 * 2**20)
    args = parser.parse_args(argv)
    if args.command == "up":
        raw = list(sys.argv[1:] if argv is None else argv)
        args.passthrough = raw[raw.index("up") + 1 :]
        return cmd_up(args)
    commands = {"serve": cmd_serve, "down": cmd_down, "status": cmd_status}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
