"""Benchmark: receiving DATA with stock aiosmtpd vs mailmon's FilterSMTP (spooling, block reads).

Each server runs in its own subprocess, so the CPU seconds and peak RSS printed are the server's
alone. The same message mix (default: 500 messages of ~50 KB with a base64 attachment in 76-char
lines, plus 2 of 20 MB) is sent over 4 concurrent smtplib connections. The client sends bodies
that are dot-stuffed once up front, so the client's CPU is the same for both servers and small.
Both handlers just answer 250 (FilterSMTP's then deletes the spool file, as in production).

    .venv/bin/python bench/smtp_data.py [--small 500] [--big 2] [--rounds 2]

Prints a table and machine-readable ``RESULT key=value ...`` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
import resource
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 64 * 2**20
CONNECTIONS = 4


# -- server side (subprocess) ---------------------------------------------------------------------


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_kb() -> int:
    # Not ru_maxrss: Linux carries it over execve() from the forked parent, which holds all the
    # test messages. VmHWM belongs to this process image only.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        spool = getattr(envelope, "spool", None)
        self.bytes += spool.size if spool is not None else len(envelope.content)
        return "250 2.0.0 Ok"


def serve(kind: str, spool_dir: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from aiosmtpd.smtp import SMTP

    from monitor.smtp.server import FilterSMTP

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Counter()

    def factory() -> SMTP:
        if kind == "stock":
            return SMTP(handler, data_size_limit=LIMIT, hostname="bench", loop=loop)
        return FilterSMTP(
            handler, data_size_limit=LIMIT, spool_dir=spool_dir, spool_memory_limit=2**20, hostname="bench", loop=loop
        )

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port} {_cpu()}", flush=True)

    def wait_stdin() -> None:
        sys.stdin.read()  # the parent closes our stdin when the run is over
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=wait_stdin, daemon=True).start()
    loop.run_forever()
    peak_kb = _peak_rss_kb()
    print(
        json.dumps({"cpu": _cpu(), "maxrss_kb": peak_kb, "messages": handler.messages, "bytes": handler.bytes}),
        flush=True,
    )


# -- client side ----------------------------------------------------------------------------------


def make_message(rng: random.Random, attachment_bytes: int, n: int) -> bytes:
    words = [b"chinh", b"phu", b"cong", b"van", b"so", b"ngay", b"thang", b".", b"ke", b"hoach"]
    text = b"\r\n".join(b" ".join(rng.choices(words, k=12)) for _ in range(20))
    payload = base64.encodebytes(rng.randbytes(attachment_bytes)).replace(b"\n", b"\r\n")
    return (
        b"From: a@example.org\r\nTo: b@example.net\r\nSubject: bench %d\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="BND"\r\n\r\n--BND\r\nContent-Type: text/plain\r\n\r\n'
        % n
        + text
        + b'\r\n--BND\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload + b"--BND--\r\n"
    )


def wire(body: bytes) -> bytes:
    """What smtplib.data() puts on the wire for ``body``."""
    q = re.sub(rb"(?m)^\.", b"..", body)
    return (q if q.endswith(b"\r\n") else q + b"\r\n") + b".\r\n"


def send_all(port: int, wires: list[bytes]) -> None:
    smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="client.bench", timeout=300)
    try:
        smtp.ehlo()
        for w in wires:
            smtp.mail("a@example.org")
            smtp.rcpt("b@example.net")
            smtp.putcmd("data")
            code, _ = smtp.getreply()
            assert code == 354, code
            smtp.send(w)
            code, msg = smtp.getreply()
            assert code == 250, (code, msg)
    finally:
        smtp.quit()


def run_one(kind: str, wires: list[bytes], spool_dir: Path) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--spool-dir", str(spool_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    _, port, cpu0 = proc.stdout.readline().split()
    # Spread the messages round-robin so each connection gets a similar mix (and the big ones
    # land on different connections).
    shares = [wires[i::CONNECTIONS] for i in range(CONNECTIONS)]
    threads = [threading.Thread(target=send_all, args=(int(port), s)) for s in shares]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    proc.stdin.close()
    stats = json.loads(proc.stdout.readline())
    proc.wait(30)
    return {
        "wall": wall,
        "msgs_per_s": len(wires) / wall,
        "cpu": stats["cpu"] - float(cpu0),
        "rss_mb": stats["maxrss_kb"] / 1024,
        "messages": stats["messages"],
        "bytes": stats["bytes"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", choices=["stock", "filter"], help=argparse.SUPPRESS)
    ap.add_argument("--spool-dir", type=Path, help="where FilterSMTP spools (default: a temp dir)")
    ap.add_argument("--small", type=int, default=500, help="number of ~50 KB messages")
    ap.add_argument("--big", type=int, default=2, help="number of 20 MB messages")
    ap.add_argument("--rounds", type=int, default=2, help="runs per server; the best is reported")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.spool_dir)
        return

    rng = random.Random(1)
    bodies = [make_message(rng, 36_000, i) for i in range(args.small)]
    bodies += [make_message(rng, 15_000_000, args.small + i) for i in range(args.big)]
    wires = [wire(b) for b in bodies]
    expected_bytes = sum(len(b if b.endswith(b"\r\n") else b + b"\r\n") for b in bodies)
    total_mb = sum(len(w) for w in wires) / 1e6
    print(
        f"mix: {args.small} × {len(bodies[0]) / 1e3:.0f} KB + {args.big} × "
        f"{len(bodies[-1]) / 1e6 if args.big else 0:.1f} MB = {total_mb:.1f} MB on the wire, "
        f"{CONNECTIONS} connections, {args.rounds} round(s)"
    )

    with tempfile.TemporaryDirectory(dir=args.spool_dir) as d:
        best: dict[str, dict[str, float]] = {}
        for rnd in range(args.rounds):
            for kind in ("stock", "filter"):
                r = run_one(kind, wires, Path(d))
                assert r["messages"] == len(wires) and r["bytes"] == expected_bytes, r
                print(
                    f"  round {rnd + 1} {kind:6}: {r['msgs_per_s']:7.1f} msgs/s  wall {r['wall']:6.2f} s  "
                    f"server CPU {r['cpu']:6.2f} s  peak RSS {r['rss_mb']:6.1f} MB"
                )
                if kind not in best or r["msgs_per_s"] > best[kind]["msgs_per_s"]:
                    best[kind] = r
        leftovers = list(Path(d).iterdir())
    stock, filt = best["stock"], best["filter"]
    ratio = filt["msgs_per_s"] / stock["msgs_per_s"]
    print(
        f"best: stock {stock['msgs_per_s']:.1f} msgs/s, filter {filt['msgs_per_s']:.1f} msgs/s "
        f"(×{ratio:.2f}); CPU {stock['cpu']:.2f} s vs {filt['cpu']:.2f} s; "
        f"peak RSS {stock['rss_mb']:.0f} MB vs {filt['rss_mb']:.0f} MB; spool files left: {len(leftovers)}"
    )
    print(
        f"RESULT smtp_data_stock_msgs_per_s={stock['msgs_per_s']:.1f} "
        f"smtp_data_filter_msgs_per_s={filt['msgs_per_s']:.1f} smtp_data_filter_vs_stock={ratio:.2f}"
    )
    print(
        f"RESULT smtp_data_stock_cpu_s={stock['cpu']:.2f} smtp_data_filter_cpu_s={filt['cpu']:.2f} "
        f"smtp_data_filter_vs_stock_cpu={filt['cpu'] / stock['cpu']:.2f} "
        f"smtp_data_stock_peak_rss_mb={stock['rss_mb']:.0f} "
        f"smtp_data_filter_peak_rss_mb={filt['rss_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
