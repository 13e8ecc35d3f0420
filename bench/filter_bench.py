"""The filter side by side with a bare stock-aiosmtpd relay and amavisd-new, on one corpus, one sink.

    .venv/bin/python bench/filter_bench.py [--quick]

Every target forwards to the same sink; the corpus goes over 8 concurrent SMTP connections.
Reported per target: messages/s, p50/p99 latency, server CPU seconds per message, peak RSS
(all processes of the target), then `RESULT` lines with the ratios.
"""

from __future__ import annotations

import argparse
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

from corpus import corpus, text_messages  # noqa: E402

from mailstack.clamd import Clamd, ping  # noqa: E402

PY = sys.executable
CONNECTIONS = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                if s.recv(3) == b"220":
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing answers on {port}")


def tree(pid: int) -> list[int]:
    """pid and all its descendants (amavisd forks its children)."""
    out = [pid]
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for c in child.read_text().split():
            out.extend(tree(int(c)))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime + stime, plus cutime + cstime of children that already exited (amavisd's)
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            continue
    return total


class RssSampler(threading.Thread):
    """Peaks of the summed RSS and of the tasks (threads of all processes) of a process tree,
    sampled every 50 ms: what the unit's MemoryHigh/MemoryMax and TasksMax are sized from."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.peak_tasks, self.stop = pid, 0, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            total = tasks = 0
            for p in tree(self.pid):
                try:
                    for line in Path(f"/proc/{p}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                        elif line.startswith("Threads:"):
                            tasks += int(line.split()[1])
                except OSError:
                    continue
            self.peak = max(self.peak, total)
            self.peak_tasks = max(self.peak_tasks, tasks)
            time.sleep(0.05)


def send_all(port: int, messages: list[bytes], connections: int) -> tuple[float, list[float], int]:
    """(seconds, per-message latencies, 4xx/errors) sending ``messages`` over ``connections``."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def worker(share: list[bytes]) -> None:
        nonlocal errors
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as smtp:
            for raw in share:
                t0 = time.perf_counter()
                try:
                    smtp.sendmail("canbo.stttt@example.gov.vn", ["phong.ubnd@partner.gov.vn"], raw)
                except smtplib.SMTPDataError as exc:
                    if exc.smtp_code < 500:
                        with lock:
                            errors += 1
                    smtp.rset()
                with lock:
                    latencies.append(time.perf_counter() - t0)

    shares = [messages[i::connections] for i in range(connections)]
    threads = [threading.Thread(target=worker, args=(s,)) for s in shares if s]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, errors


def measure(
    name: str, port: int, pid: int, messages: list[bytes], texts: list[bytes], others: dict[str, int]
) -> dict[str, float]:
    """The target's numbers, and the CPU the sink, clamd and this sending process spent beside it."""
    sampler = RssSampler(pid)
    sampler.start()
    cpu0 = cpu_seconds(tree(pid))
    beside0 = {k: cpu_seconds([p]) for k, p in others.items()}
    seconds, lat, errors = send_all(port, messages, CONNECTIONS)
    cpu = cpu_seconds(tree(pid)) - cpu0
    beside = {k: cpu_seconds([p]) - beside0[k] for k, p in others.items()}
    sampler.stop.set()
    sampler.join()
    _, text_lat, _ = send_all(port, texts, 1)
    lat.sort()
    return {
        "msgs_per_s": len(messages) / seconds,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
        "cpu_ms_per_msg": cpu / len(messages) * 1000,
        "peak_rss_mb": sampler.peak / 2**20,
        "peak_tasks": sampler.peak_tasks,
        "text_p50_ms": statistics.median(text_lat) * 1000,
        "errors": errors,
        **{f"{k}_cpu_ms_per_msg": v / len(messages) * 1000 for k, v in beside.items()},
    }


def amavis_conf(work: Path, port: int, sink: int, clamd: int) -> Path:
    conf = work / "amavisd.conf"
    home = work / "amavis"
    for d in ("tmp", "db", "var", "quarantine"):
        (home / d).mkdir(parents=True, exist_ok=True)
    shutil.chown(home, "amavis", "amavis")
    for d in home.iterdir():
        shutil.chown(d, "amavis", "amavis")
    conf.write_text(
        f"""$ENV{{PATH}} = $path = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/usr/bin:/bin';
$file = 'file';
use strict;
$MYHOME = '{home}'; $TEMPBASE = "$MYHOME/tmp"; $db_home = "$MYHOME/db"; $helpers_home = "$MYHOME/var";
$pid_file = "$MYHOME/amavisd.pid"; $lock_file = "$MYHOME/amavisd.lock"; $QUARANTINEDIR = undef;
$daemon_user = 'amavis'; $daemon_group = 'amavis';
$myhostname = 'mx.example.gov.vn'; $mydomain = 'example.gov.vn';
@local_domains_maps = ( [".$mydomain"] ); @mynetworks = qw( 127.0.0.0/8 );
$inet_socket_bind = '127.0.0.1'; $inet_socket_port = {port};
$forward_method = 'smtp:[127.0.0.1]:{sink}'; $notify_method = 'smtp:[127.0.0.1]:{sink}';
$max_servers = 2; $child_timeout = 300;
$DO_SYSLOG = 0; $LOGFILE = "$MYHOME/amavis.log"; $log_level = 0;
$enable_db = 0; $enable_zmq = 0; $nanny_details_level = 0;
@bypass_spam_checks_maps = (1); @bypass_virus_checks_maps = (0);
$enable_dkim_verification = 0; $enable_dkim_signing = 0;
$virus_admin = undef; $banned_admin = undef;
$final_virus_destiny = D_REJECT; $final_banned_destiny = D_REJECT; $final_spam_destiny = D_PASS;
$final_bad_header_destiny = D_PASS;
$banned_filename_re = new_RE(
  qr'\\.[^./]*\\.(exe|vbs|pif|scr|bat|cmd|com|cpl|js|jar)\\.?$'i,
  qr'.\\.(exe|vbs|pif|scr|bat|cmd|com|cpl|msi|js|jar|hta|ps1)$'i,
  [ qr'^\\.(exe-ms|dll)$' => 1 ],
);
@av_scanners = ( ['ClamAV-clamd', \\&ask_daemon, ["CONTSCAN {{}}\\n", "127.0.0.1:{clamd}"],
  qr/\\bOK$/m, qr/\\bFOUND$/m, qr/^.*?: (?!Infected Archive)(.*) FOUND$/m ], );
@av_scanners_backup = ();
1;
"""
    )
    conf.chmod(0o644)
    return conf


def big_messages() -> list[bytes]:
    """8 messages of about 40 MB (a 29 MiB attachment each: under the 30 MiB rule, so delivered)."""
    import os as _os
    from email.message import EmailMessage

    from corpus import POLICY

    out = []
    for i in range(8):
        msg = EmailMessage(policy=POLICY)
        msg["From"] = "canbo.stttt@example.gov.vn"
        msg["To"] = "phong.ubnd@partner.gov.vn"
        msg["Subject"] = f"40 MB {i}"
        msg.set_content("so lieu\n")
        msg.add_attachment(_os.urandom(29 * 2**20), maintype="application", subtype="pdf", filename=f"big{i}.pdf")
        out.append(msg.as_bytes())
    return out


def fresh_clamd(work: Path, old: Clamd | None) -> Clamd:
    """A newly started clamd for each target: clamd caches the hash of every clean file it scanned,
    so a target sending the same decoded attachments as the one before would find them cached."""
    if old is not None:
        old.stop()
        shutil.rmtree(old.base, ignore_errors=True)
    clamd = Clamd(work, free_port())
    clamd.write_config()
    clamd.start(time.monotonic() + 60)
    assert ping(clamd.port)
    return clamd


def clamd_pid(clamd: Clamd) -> int:
    assert clamd.proc is not None
    return clamd.proc.pid


def clamav_section(port: int) -> str:
    """[clamav] when this mailmon has the virus rule (config.py knows the section)."""
    from monitor.config import Config

    return f'[clamav]\nenabled = true\naddress = "127.0.0.1:{port}"\n' if "clamav" in Config.model_fields else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="150 messages instead of 2000")
    args = parser.parse_args()
    n = 150 if args.quick else 2000
    print(f"corpus: {n} messages ...", flush=True)
    messages = [raw for _, raw in corpus(n)]
    texts = text_messages(60)
    print(f"corpus: {sum(map(len, messages)) / 1e6:.0f} MB", flush=True)
    work = Path(tempfile.mkdtemp(prefix="mailmon-bench-"))
    work.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, dict[str, float]] = {}
    big_peak = 0.0
    big_tasks = 0
    clamd = None
    try:
        sink = free_port()
        procs.append(subprocess.Popen([PY, str(HERE / "servers.py"), "sink", str(sink)]))
        wait_port(sink)
        clamd = fresh_clamd(work, None)
        clamd_port = clamd.port
        others = {"sink": procs[0].pid, "clamd": clamd_pid(clamd), "sender": os.getpid()}

        relay = free_port()
        p = subprocess.Popen([PY, str(HERE / "servers.py"), "relay", str(relay), str(sink)])
        procs.append(p)
        wait_port(relay)
        results["relay"] = measure("relay", relay, p.pid, messages, texts, others)
        print("relay:", results["relay"], flush=True)

        fport = free_port()
        (work / "mailmon").mkdir()
        cfg = work / "mailmon" / "config.toml"
        cfg.write_text(
            '[organization]\nlocal_domains = ["example.gov.vn"]\n'
            f'[storage]\ndatabase = "{work}/mailmon/db.sqlite3"\nspool_dir = "{work}/mailmon/spool"\n'
            f'quarantine_dir = "{work}/mailmon/q"\n'
            f'[filter]\nlisten = "127.0.0.1:{fport}"\nreinject = "127.0.0.1:{sink}"\nworkers = 2\n'
            f"[ratelimit]\nenabled = false\n" + clamav_section(clamd_port)
        )
        p = subprocess.Popen(
            [PY, "-m", "monitor.cli", "--config", str(cfg), "filter"], cwd=REPO, stderr=(work / "filter.log").open("wb")
        )
        procs.append(p)
        wait_port(fport)
        results["filter"] = measure("filter", fport, p.pid, messages, texts, others)
        print("filter:", results["filter"], flush=True)
        big = big_messages()
        sampler = RssSampler(p.pid)
        sampler.start()
        send_all(fport, big, len(big))
        sampler.stop.set()
        sampler.join()
        big_peak = sampler.peak / 2**20
        big_tasks = sampler.peak_tasks
        print(f"filter, 8 concurrent 40 MB messages: peak RSS {big_peak:.0f} MB, {big_tasks} tasks", flush=True)

        if shutil.which("amavisd"):
            clamd = fresh_clamd(work, clamd)
            clamd_port, others["clamd"] = clamd.port, clamd_pid(clamd)
            aport = free_port()
            conf = amavis_conf(work, aport, sink, clamd_port)
            p = subprocess.Popen(
                ["amavisd", "-c", str(conf), "foreground"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            procs.append(p)
            wait_port(aport, 90)
            results["amavis"] = measure("amavis", aport, p.pid, messages, texts, others)
            print("amavis:", results["amavis"], flush=True)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM) if p.args[0] == "amavisd" else p.terminate()
                p.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                p.kill()
        if clamd is not None:
            clamd.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\n{'target':<8} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>9} {'CPU ms/msg':>11} "
        f"{'peak RSS MB':>12} {'text p50 ms':>12} {'clamd CPU':>10} {'sink CPU':>9} {'sender CPU':>11}"
    )
    for name, r in results.items():
        print(
            f"{name:<8} {r['msgs_per_s']:8.1f} {r['p50_ms']:8.1f} {r['p99_ms']:9.1f} {r['cpu_ms_per_msg']:11.1f} "
            f"{r['peak_rss_mb']:12.0f} {r['text_p50_ms']:12.1f} {r['clamd_cpu_ms_per_msg']:10.1f} "
            f"{r['sink_cpu_ms_per_msg']:9.1f} {r['sender_cpu_ms_per_msg']:11.1f}"
        )
    print("(CPU columns: milliseconds a message; clamd, sink and sender are shared by every target)")
    f, rl = results["filter"], results["relay"]
    print(f"RESULT peak_rss_mb_8x40mb={big_peak:.0f} peak_tasks_8x40mb={big_tasks}")
    line = (
        f"RESULT relay_msgs_per_s={rl['msgs_per_s']:.1f} filter_msgs_per_s={f['msgs_per_s']:.1f} "
        f"filter_vs_relay={f['msgs_per_s'] / rl['msgs_per_s']:.2f} text_p50_ms_filter={f['text_p50_ms']:.1f} "
        f"peak_rss_mb_filter={f['peak_rss_mb']:.0f} peak_tasks_filter={f['peak_tasks']}"
    )
    if "amavis" in results:
        a = results["amavis"]
        line += (
            f" amavis_msgs_per_s={a['msgs_per_s']:.1f} filter_vs_amavis={f['msgs_per_s'] / a['msgs_per_s']:.2f}"
            f" text_p50_ms_amavis={a['text_p50_ms']:.1f}"
        )
    print(line)


if __name__ == "__main__":
    main()
