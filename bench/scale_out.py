"""Scale-out: one filter node on SQLite side by side with two filter nodes sharing one PostgreSQL.

    .venv/bin/python bench/scale_out.py [--messages 300] [--records 3000] [--size-rows 20000]

The filter part: the same corpus (bench/corpus.py), the same total load (8 concurrent SMTP
connections) and the same sink for (a) one `mailmon filter` process on SQLite and (b) two `mailmon
filter` processes, each with its own config, spool and port, both with the same ``[storage] url`` of
a throwaway PostgreSQL; the connections are shared out between the two nodes. Both nodes run on this
one machine, so (b) does not get more CPU than (a): the total of evaluation workers is the same
(``--workers``, shared out between the nodes), and what the ratio shows is what the shared store
costs or gains, not what a second machine adds. No clamd: the store is what is compared.

The store part: ``Store.messages.record`` (one message, its findings and concerns, one transaction)
on SQLite and on PostgreSQL, from one connection and from two processes in parallel.

The size part: rows recorded on PostgreSQL, then ``pg_total_relation_size`` (table, TOAST and
indexes) per table, divided by its rows: the bytes a message, a finding and a concern cost.

The PostgreSQL server runs with its durable defaults (fsync, synchronous_commit and full-page
writes on); SQLite runs as the store opens it (WAL, synchronous=NORMAL).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import smtplib
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

from corpus import corpus  # noqa: E402
from filter_bench import cpu_seconds, free_port, tree, wait_port  # noqa: E402

from mailstack.postgres import PostgresCluster  # noqa: E402
from monitor.store import Concern, FindingRecord, MessageRecord, Store  # noqa: E402

PY = sys.executable
CONNECTIONS = 8
DURABLE = (
    "ALTER SYSTEM SET fsync = on",
    "ALTER SYSTEM SET synchronous_commit = on",
    "ALTER SYSTEM SET full_page_writes = on",
)


# --- the filter nodes --------------------------------------------------------------------------------
def node_config(work: Path, name: str, port: int, sink: int, workers: int, url: str) -> Path:
    home = work / name
    home.mkdir()
    storage = f'url = "{url}"\n' if url else f'database = "{home}/db.sqlite3"\n'
    cfg = home / "config.toml"
    cfg.write_text(
        '[organization]\nlocal_domains = ["example.gov.vn"]\n'
        f'[storage]\n{storage}spool_dir = "{home}/spool"\nquarantine_dir = "{home}/q"\n'
        f'[filter]\nlisten = "127.0.0.1:{port}"\nreinject = "127.0.0.1:{sink}"\nworkers = {workers}\n'
        "[ratelimit]\nenabled = false\n"
    )
    return cfg


def start_nodes(
    work: Path, names: list[str], sink: int, workers: list[int], url: str
) -> list[tuple[int, subprocess.Popen[bytes]]]:
    nodes = []
    for name, w in zip(names, workers, strict=True):
        port = free_port()
        cfg = node_config(work, name, port, sink, w, url)
        proc = subprocess.Popen(
            [PY, "-m", "monitor.cli", "--config", str(cfg), "filter"],
            cwd=REPO,
            stderr=(work / f"{name}.log").open("wb"),
        )
        nodes.append((port, proc))
    for port, _ in nodes:
        wait_port(port)
    return nodes


def send(ports: list[int], messages: list[bytes]) -> tuple[float, list[float], int]:
    """(seconds, latencies, 4xx) sending ``messages`` over CONNECTIONS connections shared out between ``ports``."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def worker(port: int, share: list[bytes]) -> None:
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

    threads = [
        threading.Thread(target=worker, args=(ports[i % len(ports)], messages[i::CONNECTIONS]))
        for i in range(CONNECTIONS)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, errors


def run_filter(
    work: Path,
    label: str,
    names: list[str],
    workers: list[int],
    sink: int,
    url: str,
    messages: list[bytes],
    server: int | None = None,
) -> dict[str, float]:
    """The nodes' numbers; CPU is the nodes' and, given its postmaster's pid, the database server's."""
    nodes = start_nodes(work, names, sink, workers, url)
    try:
        send([nodes[0][0]], messages[:20])  # warm up: workers started, store opened
        pids = [p for _, proc in nodes for p in tree(proc.pid)] + (tree(server) if server is not None else [])
        cpu0 = cpu_seconds(pids)
        seconds, lat, errors = send([port for port, _ in nodes], messages)
        cpu = cpu_seconds(pids) - cpu0
    finally:
        for _, proc in nodes:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    lat.sort()
    result = {
        "msgs_per_s": len(messages) / seconds,
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[max(0, int(len(lat) * 0.99) - 1)] * 1000,
        "cpu_ms_per_msg": cpu / len(messages) * 1000,
        "errors": errors,
    }
    print(f"{label}: {result}", flush=True)
    return result


# --- the store alone ---------------------------------------------------------------------------------
def record_of(i: int) -> tuple[MessageRecord, list[FindingRecord]]:
    """A message as the filter records it: two recipients' concerns; every fourth with one finding."""
    sender = f"canbo{i % 5000}@stttt.example.gov.vn"
    concerns = (Concern(sender, "stttt"), Concern(f"phong{i % 300}@ubnd.example.gov.vn", "ubnd"))
    message = MessageRecord(
        message_id=f"<{i:012d}.bench@stttt.example.gov.vn>",
        queue_id=f"4Q{i:010X}",
        client_addr="10.20.30.40",
        mail_from=sender,
        rcpt_tos=(f"phong{i % 300}@ubnd.example.gov.vn", f"vanthu{i % 40}@partner.gov.vn"),
        direction="outbound",
        size=40_000 + i % 90_000,
        verdict="pass",
        seconds=0.05,
        outcome="delivered",
        concerns=concerns,
    )
    findings = []
    if i % 4 == 0:
        findings.append(
            FindingRecord(
                rule="attachment_size",
                severity="warning",
                action="tag",
                detail="Tệp đính kèm 12 MB vượt ngưỡng khuyến nghị 10 MB / attachment 12 MB over the 10 MB advised",
                citation="QĐ-UBND Đ5.2",
                concerns=concerns[:1],
            )
        )
    return message, findings


def record_many(target: str, start: int, n: int, out: multiprocessing.Queue[float]) -> None:
    store = Store(target if target.startswith("postgresql://") else Path(target))
    try:
        t0 = time.perf_counter()
        for i in range(start, start + n):
            store.messages.record(*record_of(i))
        out.put(time.perf_counter() - t0)
    finally:
        store.close()


def records_per_second(target: str, n: int, parallel: int, start: int) -> float:
    Store(target if target.startswith("postgresql://") else Path(target)).close()  # migrations once, before
    out: multiprocessing.Queue[float] = multiprocessing.Queue()
    share = n // parallel
    procs = [
        multiprocessing.Process(target=record_many, args=(target, start + k * share, share, out))
        for k in range(parallel)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    for p in procs:
        if p.exitcode != 0:
            raise RuntimeError(f"a recording process failed ({p.exitcode})")
    slowest = max(out.get() for _ in procs)  # each recorder's own time: process start-up is not the store's
    return share * parallel / slowest


def record_logins(url: str, n: int) -> None:
    """``n`` login events as Dovecot's log gives them: 2,000 users, IMAP mostly, one session each."""
    store = Store(url)
    try:
        events = [
            (
                f"2026-12-07T{8 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}+07:00",
                f"canbo{i % 2000}@stttt.example.gov.vn",
                "imap" if i % 5 else "pop3",
                "login",
                1,
                f"10.{i % 250}.{i // 250 % 250}.{i % 200 + 1}",
                f"sess{i:010d}AbCdEf",
                0,
            )
            for i in range(n)
        ]
        store.logins.record_batch(events, "bench", "/var/log/dovecot.log", n * 150)
    finally:
        store.close()


def table_sizes(url: str) -> dict[str, tuple[int, int]]:
    """(rows, bytes with TOAST and indexes) of the tables a recorded message fills, and of login_events."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        out = {}
        for table in ("messages", "findings", "concerns", "login_events"):
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            size = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
            assert rows is not None and size is not None
            out[table] = (int(rows[0]), int(size[0]))
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300, help="corpus messages through the filter")
    parser.add_argument("--workers", type=int, default=2, help="evaluation workers in all (shared out between nodes)")
    parser.add_argument("--records", type=int, default=3000, help="messages recorded in each store measurement")
    parser.add_argument("--size-rows", type=int, default=20000, help="messages recorded for the size measurement")
    args = parser.parse_args()
    print(f"corpus: {args.messages} messages ...", flush=True)
    messages = [raw for _, raw in corpus(args.messages)]
    print(f"corpus: {sum(map(len, messages)) / 1e6:.0f} MB", flush=True)
    work = Path(tempfile.mkdtemp(prefix="mailmon-scale-"))
    work.chmod(0o755)
    cluster = PostgresCluster()
    sink_proc = None
    filt: dict[str, dict[str, float]] = {}
    rec: dict[str, float] = {}
    try:
        cluster.start()
        import psycopg

        with psycopg.connect(cluster.url("postgres", role="postgres"), autocommit=True) as admin:
            for statement in DURABLE:
                admin.execute(statement)
            admin.execute("SELECT pg_reload_conf()")
        for db in ("filter", "records", "sizes"):
            cluster.create_database(db)

        sink = free_port()
        sink_proc = subprocess.Popen([PY, str(HERE / "servers.py"), "sink", str(sink)])
        wait_port(sink)
        half = max(1, args.workers // 2)
        filt["sqlite_1_node"] = run_filter(work, "one node, SQLite", ["a"], [args.workers], sink, "", messages)
        filt["pg_2_nodes"] = run_filter(
            work,
            "two nodes, one PostgreSQL",
            ["b1", "b2"],
            [half, max(1, args.workers - half)],
            sink,
            cluster.url("filter"),
            messages,
            int((cluster.data / "postmaster.pid").read_text().split()[0]),
        )
        with psycopg.connect(cluster.url("filter")) as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM findings), "
                "(SELECT count(*) FROM concerns)"
            ).fetchone()
        assert counts is not None
        print(f"recorded by the two nodes: {counts[0]} messages, {counts[1]} findings, {counts[2]} concerns")

        sqlite_path = str(work / "records.sqlite3")
        pg = cluster.url("records")
        rec["sqlite_1"] = records_per_second(sqlite_path, args.records, 1, 0)
        rec["sqlite_2"] = records_per_second(sqlite_path, args.records, 2, args.records)
        rec["pg_1"] = records_per_second(pg, args.records, 1, 0)
        rec["pg_2"] = records_per_second(pg, args.records, 2, args.records)
        print("records/s:", {k: round(v) for k, v in rec.items()}, flush=True)

        records_per_second(cluster.url("sizes"), args.size_rows, 2, 0)
        record_logins(cluster.url("sizes"), args.size_rows)
        sizes = table_sizes(cluster.url("sizes"))
    finally:
        if sink_proc is not None:
            sink_proc.terminate()
            sink_proc.wait(30)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("\n(CPU: the nodes' processes and, for PostgreSQL, the database server's)")
    print(f"{'filter':<28} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>9} {'CPU ms/msg':>11} {'4xx':>5}")
    for name, r in filt.items():
        print(
            f"{name:<28} {r['msgs_per_s']:8.1f} {r['p50_ms']:8.1f} {r['p99_ms']:9.1f} "
            f"{r['cpu_ms_per_msg']:11.1f} {r['errors']:5.0f}"
        )
    print(f"\n{'store: messages recorded/s':<28} {'1 connection':>13} {'2 in parallel':>14}")
    print(f"{'SQLite':<28} {rec['sqlite_1']:13.0f} {rec['sqlite_2']:14.0f}")
    print(f"{'PostgreSQL':<28} {rec['pg_1']:13.0f} {rec['pg_2']:14.0f}")
    # findings: every fourth message; concerns: 2 a message and 1 a finding; logins: one row an event
    print(f"\n{'PostgreSQL size':<12} {'rows':>8} {'bytes':>12} {'bytes/row':>10}")
    for table, (rows, size) in sizes.items():
        print(f"{table:<12} {rows:8d} {size:12d} {size / max(rows, 1):10.0f}")
    s, p = filt["sqlite_1_node"], filt["pg_2_nodes"]
    per_message = sum(sizes[t][1] for t in ("messages", "findings", "concerns")) / sizes["messages"][0]
    print(
        f"RESULT sqlite_1_node_msgs_per_s={s['msgs_per_s']:.1f} pg_2_nodes_msgs_per_s={p['msgs_per_s']:.1f} "
        f"pg_2_nodes_vs_sqlite_1_node={p['msgs_per_s'] / s['msgs_per_s']:.2f} "
        f"p99_ms_sqlite_1_node={s['p99_ms']:.0f} p99_ms_pg_2_nodes={p['p99_ms']:.0f}"
    )
    print(
        f"RESULT records_per_s_sqlite={rec['sqlite_1']:.0f} records_per_s_sqlite_2={rec['sqlite_2']:.0f} "
        f"records_per_s_pg={rec['pg_1']:.0f} records_per_s_pg_2={rec['pg_2']:.0f} "
        f"pg_vs_sqlite_records={rec['pg_1'] / rec['sqlite_1']:.2f}"
    )
    print(
        "RESULT "
        + " ".join(f"pg_bytes_per_{t.removesuffix('s')}={size / max(rows, 1):.0f}" for t, (rows, size) in sizes.items())
        + f" pg_bytes_per_recorded_message={per_message:.0f}"
    )


if __name__ == "__main__":
    main()
