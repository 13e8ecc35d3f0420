"""Sweep speed against a real Dovecot: N mailboxes (small maildirs, a few Sieve scripts), one sweep.

    .venv/bin/python bench/sweep.py [--boxes 1000]

Starts a private Postfix + Dovecot (mailstack), creates the mailboxes, puts a message in each and
a Sieve redirect in every tenth, imports the directory, runs one `sweep` and prints boxes/s and
the CPU seconds it cost this process and the Dovecot process tree (so the bound is visible).
"""

from __future__ import annotations

import argparse
import imaplib
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailstack import MailStack
from monitor.config import load_config
from monitor.mailboxes.directory import import_csv
from monitor.mailboxes.sweep import sweep
from monitor.store import Store


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU of a process tree: live processes plus the children they already reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ppid, utime, stime, cutime, cstime = int(fields[1]), *map(int, fields[11:15])
        stats[int(entry.name)] = (ppid, (utime + stime + cutime + cstime) / tick)
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo.extend(child for child, (ppid, _) in stats.items() if ppid == pid)
    return total


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boxes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailmon-bench-sweep-"))
    root.chmod(0o755)
    users = {f"user{i:05d}.stttt@example.gov.vn": f"pw{i}" for i in range(args.boxes)}
    stack = MailStack(root / "stack", users=users)
    stack.start()
    try:
        t0 = time.perf_counter()
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
        print(f"created {args.boxes} mailboxes in {time.perf_counter() - t0:.1f}s")
        work = root / "mailmon"
        work.mkdir()
        (work / "secret").write_text(stack.master_user[1] + "\n")
        (work / "units.csv").write_text("unit,name,parent,it_contact\nstttt,So,,cntt@example.gov.vn\n")
        with (work / "mailboxes.csv").open("w") as f:
            f.write("address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n")
            for address in users:
                f.write(f"{address},User,stttt,personal,active,2025-01-01,2026-10-01,1024\n")
        (work / "config.toml").write_text(
            '[organization]\nlocal_domains = ["example.gov.vn"]\n'
            f'[storage]\ndatabase = "{work / "db.sqlite3"}"\n'
            f'[dovecot]\nmaster_password_file = "{work / "secret"}"\n'
            f'imap = "127.0.0.1:{stack.ports.imap}"\nmanagesieve = "127.0.0.1:{stack.ports.sieve}"\n'
            f"sweep_concurrency = {args.concurrency}\nsweep_boxes_per_second = 0\n"  # its top speed
        )
        config = load_config(work / "config.toml")
        store = Store(config.storage.database)
        import_csv(store, work / "units.csv", work / "mailboxes.csv")
        assert stack.dovecot.proc is not None
        cpu_before = self_cpu_seconds(), tree_cpu_seconds(stack.dovecot.proc.pid)
        report = sweep(config, store)
        python_cpu = self_cpu_seconds() - cpu_before[0]
        dovecot_cpu = tree_cpu_seconds(stack.dovecot.proc.pid) - cpu_before[1]
        forwards = sum(1 for r in store.mailboxes.swept().values() if r["sieve_forwards"] != "[]")
        print(
            f"sweep: {report.boxes} boxes in {report.seconds:.2f}s, {report.errors} errors, {forwards} forwards found"
        )
        print(f"CPU: sweep process {python_cpu:.1f}s, Dovecot {dovecot_cpu:.1f}s")
        print(f"RESULT sweep_boxes_per_s={report.boxes / report.seconds:.1f} sweep_boxes={report.boxes}")
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
