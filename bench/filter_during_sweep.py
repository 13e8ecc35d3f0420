"""The filter's latency while a sweep of N real mailboxes runs in the same service, against without one.

    .venv/bin/python bench/filter_during_sweep.py [--boxes 10000] [--seconds 30]

Starts a private Dovecot with N mailboxes (a message in each, a Sieve redirect in every tenth), the
directory of those N mailboxes in mailmon's store, a sink standing in for Postfix's re-injection
port, and the service (`bench/sweep_service.py`: `mailmon run`'s Daemon, filter only, with a sweep
started on SIGUSR1). 8 SMTP connections send short official mail from a local sender (so every
message passes the sending windows in the store) at a steady rate: for ``--seconds`` with no sweep,
then for as long as one sweep of every mailbox takes, then as long again with no sweep (the machine
may be shared: "without" is the time before and after the sweep together, so both sides see the
same length of background). Prints the p50/p99 of the phases and `RESULT` lines; the ratio of the
p99s is the number that matters (within 1.10 is the target).
"""

from __future__ import annotations

import argparse
import imaplib
import os
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from corpus import text_messages  # noqa: E402

from mailstack import MailStack  # noqa: E402

CONNECTIONS = 8
SENDER = "canbo.stttt@example.gov.vn"
RCPT = "phong.ubnd@partner.gov.vn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                if s.recv(3) == b"220":
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answers on {port}")


def create_boxes(stack: MailStack, users: list[str]) -> None:
    for i, address in enumerate(users):
        conn = stack.imap(address, as_master=True)
        conn.append(
            "INBOX",
            "",
            imaplib.Time2Internaldate(time.time() - 86400 * (i % 9)),
            f"From: a@partner.gov.vn\r\nSubject: {i}\r\n\r\nnoi dung {i}\r\n".encode(),
        )
        conn.logout()
        if i % 10 == 0:
            stack.put_sieve_script(address, "fwd", f'redirect "user{i}@gmail.com";\n')


def send_steadily(
    port: int, messages: list[bytes], stop: threading.Event, interval: float
) -> list[tuple[float, float]]:
    """CONNECTIONS senders, each one message every ``interval`` seconds, until ``stop``; (sent at, latency)."""
    latencies: list[tuple[float, float]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as smtp:
            i = n
            next_at = time.perf_counter() + interval * n / CONNECTIONS
            while not stop.is_set():
                time.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
                t0 = time.perf_counter()
                try:
                    smtp.sendmail(SENDER, [RCPT], messages[i % len(messages)])
                except smtplib.SMTPException as exc:
                    with lock:
                        failures.append(str(exc)[:120])
                    smtp.rset()
                with lock:
                    latencies.append((t0, time.perf_counter() - t0))
                i += CONNECTIONS

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        print(f"  {len(failures)} messages not accepted, e.g. {failures[0]}")
    return latencies


def p(samples: list[tuple[float, float]], q: float) -> float:
    """The q-quantile of the latencies, in milliseconds."""
    ordered = sorted(latency for _, latency in samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def window_p99(samples: list[tuple[float, float]], seconds: float) -> float:
    """The median over ``seconds``-long windows of each window's p99: what a typical stretch of the
    phase looks like, whatever a neighbour on a shared machine did for a minute."""
    windows: dict[int, list[tuple[float, float]]] = {}
    for at, latency in samples:
        windows.setdefault(int(at // seconds), []).append((at, latency))
    full = [w for w in windows.values() if len(w) >= 100]
    return statistics.median(p(w, 0.99) for w in full) if full else p(samples, 0.99)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boxes", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the phase without a sweep")
    parser.add_argument("--interval", type=float, default=0.4, help="seconds between messages of one connection")
    parser.add_argument("--sweep-concurrency", type=int, default=8, help="[dovecot] sweep_concurrency")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per window of the robust p99")
    parser.add_argument(
        "--pace", type=float, default=None, help="[dovecot] sweep_boxes_per_second (0: none; default: the config's)"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailmon-bench-sweep-filter-"))
    root.chmod(0o755)
    users = [f"user{i:05d}.stttt@example.gov.vn" for i in range(args.boxes)]
    stack = MailStack(root / "stack", users=dict.fromkeys(users, "pw"))
    stack.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        t0 = time.perf_counter()
        create_boxes(stack, users)
        print(f"created {args.boxes} mailboxes in {time.perf_counter() - t0:.0f}s", flush=True)
        work = root / "mailmon"
        work.mkdir()
        (work / "secret").write_text(stack.master_user[1] + "\n")
        (work / "units.csv").write_text("unit,name,parent,it_contact\nstttt,So,,cntt@example.gov.vn\n")
        with (work / "mailboxes.csv").open("w") as f:
            f.write("address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n")
            for address in [*users, SENDER]:
                f.write(f"{address},User,stttt,personal,active,2025-01-01,2026-10-01,1024\n")
        sink, port = free_port(), free_port()
        procs.append(subprocess.Popen([sys.executable, str(HERE / "servers.py"), "sink", str(sink)]))
        config = work / "config.toml"
        config.write_text(
            '[organization]\nlocal_domains = ["example.gov.vn"]\n'
            f'[storage]\ndatabase = "{work / "db.sqlite3"}"\nspool_dir = "{work / "spool"}"\n'
            f'quarantine_dir = "{work / "q"}"\n'
            f'[filter]\nlisten = "127.0.0.1:{port}"\nreinject = "127.0.0.1:{sink}"\nworkers = 2\n'
            # Every message passes the sending windows (a store write), but no sender is ever held.
            "[ratelimit.limits.personal]\nmessages_per_hour = 1000000\nexternal_recipients_per_hour = 1000000\n"
            "external_recipients_per_day = 1000000\n"
            f'[dovecot]\nmaster_password_file = "{work / "secret"}"\n'
            f'imap = "127.0.0.1:{stack.ports.imap}"\nmanagesieve = "127.0.0.1:{stack.ports.sieve}"\n'
            f"sweep_concurrency = {args.sweep_concurrency}\n"
            + ("" if args.pace is None else f"sweep_boxes_per_second = {args.pace}\n")
            + "[alerts]\nenabled = false\n"
        )
        imported = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "--config", str(config), "directory", "import",
             str(work / "units.csv"), str(work / "mailboxes.csv")],
            cwd=REPO, capture_output=True, text=True,
        )
        print(imported.stdout.strip() or imported.stderr.strip()[-500:], flush=True)
        marker = work / "sweep-done"
        service = subprocess.Popen(
            [sys.executable, str(HERE / "sweep_service.py"), str(config), str(marker)],
            cwd=REPO,
            stderr=(work / "service.log").open("wb"),
        )
        procs.append(service)
        wait_port(port)
        messages = text_messages(200)
        rate = CONNECTIONS / args.interval
        print(f"phase 1: no sweep, {args.seconds:.0f}s at {rate:.0f} msgs/s over {CONNECTIONS} connections", flush=True)
        stop = threading.Event()
        timer = threading.Timer(args.seconds, stop.set)
        timer.start()
        idle = send_steadily(port, messages, stop, args.interval)
        print(f"phase 2: during a sweep of {args.boxes} mailboxes", flush=True)
        stop = threading.Event()

        def until_swept() -> None:
            service.send_signal(signal.SIGUSR1)
            while not marker.exists() and service.poll() is None:
                time.sleep(0.05)
            stop.set()

        watcher = threading.Thread(target=until_swept)
        watcher.start()
        busy = send_steadily(port, messages, stop, args.interval)
        watcher.join()
        sweep_seconds = float(marker.read_text().split()[0]) if marker.exists() else float("nan")
        print(f"  the sweep took {sweep_seconds:.1f}s ({marker.read_text().strip() if marker.exists() else 'failed'})")
        print(f"phase 3: no sweep again, {sweep_seconds:.0f}s", flush=True)
        stop = threading.Event()
        timer = threading.Timer(sweep_seconds, stop.set)
        timer.start()
        after = send_steadily(port, messages, stop, args.interval)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)

    without = idle + after
    print(f"\n{'phase':<14} {'messages':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'window p99':>11}")
    for name, lat in (("before sweep", idle), ("during sweep", busy), ("after sweep", after), ("without", without)):
        p50, p99, worst = p(lat, 0.5), p(lat, 0.99), max(latency for _, latency in lat) * 1000
        print(f"{name:<14} {len(lat):>9} {p50:8.1f} {p99:8.1f} {worst:8.1f} {window_p99(lat, args.window):11.1f}")
    print(f"(window p99: the median over {args.window:g} s windows of each window's p99)")
    print(
        f"RESULT filter_p99_ms_no_sweep={p(without, 0.99):.1f} filter_p99_ms_during_sweep={p(busy, 0.99):.1f} "
        f"p99_during_vs_without={p(busy, 0.99) / p(without, 0.99):.2f} "
        f"window_p99_during_vs_without={window_p99(busy, args.window) / window_p99(without, args.window):.2f} "
        f"sweep_boxes={args.boxes} sweep_s={sweep_seconds:.1f} "
        f"sweep_pace={'config' if args.pace is None else args.pace} cpus={os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
