"""`python -m demo [--keep]`: run mailmon's filter in a real local Postfix + Dovecot and show it work.

Starts Postfix (2525 after-queue, 2526 before-queue, re-injection 10026), Dovecot (IMAP and
ManageSieve on the ports of config.toml's [dovecot], LMTP 10024), a capture sink for the outside
world (10099) under /tmp/mailmon-demo, and `mailmon filter` with the repository's config.toml;
sends the sample messages of demo/traffic.py and prints what was delivered, rejected and
quarantined.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

from demo import activity
from demo.traffic import HOANT, KETOAN, VANPHONG, Sample, samples
from mailstack import MailStack, Ports
from mailstack.util import wait_greeting
from monitor.config import Config, load_config, split_hostport
from monitor.store import Store

REPO = Path(__file__).resolve().parents[1]
ROOT = Path("/tmp/mailmon-demo")
ADMIN = "postmaster@example.gov.vn"
ADMIN_PASSWORD = "demo-postmaster"
CONTACT_PASSWORD = "demo-hoant"  # HOANT, the IT contact of vp.stttt (demo/activity.py)


def ports_for(config_path: Path) -> Ports:
    config = load_config(config_path)
    return Ports(
        smtp=2525,
        smtp_prequeue=2526,
        reinject=split_hostport(config.filter.reinject)[1],
        filter=split_hostport(config.filter.listen)[1],
        lmtp=10024,
        imap=split_hostport(config.dovecot.imap)[1],
        sieve=split_hostport(config.dovecot.managesieve)[1],
        sink=10099,
        clamd=13310,
        submission=2587,
        auth=10031,
    )


def reset_state(config_path: Path) -> None:
    """Each demo run starts from empty storage, so the summary shows this run only."""
    config = load_config(config_path)
    for path in (config.storage.database, config.storage.spool_dir, config.storage.quarantine_dir):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)


def start_filter(config_path: Path, log: Path, port: int) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "--config", str(config_path), "run"],
        stderr=log.open("wb"),
        cwd=REPO,
    )

    def alive() -> str | None:
        code = proc.poll()
        return None if code is None else f"exited {code}; see {log}:\n{log.read_text()[-2000:]}"

    wait_greeting(port, b"220", time.monotonic() + 30, what="mailmon filter", quit_cmd=b"QUIT\r\n", alive=alive)
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo")
    parser.add_argument("--config", default=str(REPO / "config.toml"))
    parser.add_argument("--keep", action="store_true", help="leave everything running until Ctrl-C")
    args = parser.parse_args(argv)
    config_path = Path(args.config).resolve()
    config = load_config(config_path)
    ports = ports_for(config_path)

    print("==> mailmon demo: Postfix + Dovecot + mailmon filter on 127.0.0.1")
    reset_state(config_path)
    master_password = secrets.token_urlsafe(16)
    secret_file = config.dovecot.master_password_file
    if secret_file is not None:
        secret_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret_file.write_text(master_password + "\n", encoding="utf-8")
        secret_file.chmod(0o600)
    if ROOT.exists():
        shutil.rmtree(ROOT)
    ROOT.mkdir(mode=0o755)
    stack = MailStack(
        ROOT,
        ports=ports,
        users={
            HOANT: CONTACT_PASSWORD,
            VANPHONG: "demo-vanphong",
            KETOAN: "demo-ketoan",
            activity.DUNGLV: "demo-dunglv",
            activity.MINHLV: "demo-minhlv",
            ADMIN: ADMIN_PASSWORD,  # in config.toml's [web] admins
        },
        master_user=(config.dovecot.master_user, master_password),
        with_clamd=bool(getattr(getattr(config, "clamav", None), "enabled", False)),
        name="demo",
    )
    stack.start()
    filter_log = REPO / "var" / "log" / "filter.log"
    proc = start_filter(config_path, filter_log, ports.filter)
    try:
        stack.put_sieve_script(KETOAN, "chuyen-tiep", 'redirect "ketoan.canhan@gmail.com";\n')
        # The directory first, as in a real deployment: findings are recorded with their units.
        units, boxes, past = activity.write(ROOT / "activity", date.today())
        print("  " + mailmon(config_path, "directory", "import", str(units), str(boxes)).strip())
        time.sleep(3)  # the alert job's first run marks where alerting starts
        sent = samples()
        for sample in sent:
            print(f"  gửi / sending: {sample.label}")
            stack.send(sample.message, sample.mail_from, sample.rcpt_tos)
        store = Store(config.storage.database)
        expected_rows = len(sent) + 1  # the Sieve redirect passes the filter a second time
        stack.wait_until(
            lambda: len(store.messages.recent()) >= expected_rows and not stack.queue(),
            120,
            "every sample to be filtered and the Postfix queue to drain",
        )
        print_summary(stack, store, sent)
        show_mailboxes(config_path, stack, past)
        show_exporters(config_path, config, stack)
        if args.keep:
            show_console(config)
            print("\nĐang chạy tiếp / still running; Ctrl-C to stop.")
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        stack.stop()
    return 0


def mailmon(config_path: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    return out.stdout + (out.stderr if out.returncode not in (0, 1) else "")


def show_mailboxes(config_path: Path, stack: MailStack, past: Path) -> None:
    """Mailbox activity: four months of past logins, a real sweep, the verdicts."""
    print("\n==> Hộp thư / mailboxes (directory, Dovecot log, IMAP + ManageSieve sweep)")
    stack.imap(HOANT).logout()  # a real login today, in the live Dovecot log
    for log_file in (past, stack.dovecot_log):
        print("  " + mailmon(config_path, "ingest", "dovecot-log", str(log_file)).strip())
    print("  " + mailmon(config_path, "sweep").strip())
    for line in mailmon(config_path, "mailboxes").splitlines():
        print("  " + line)


def show_exporters(config_path: Path, config: Config, stack: MailStack) -> None:
    """Where to look: the metrics endpoint, the alert mail in the IT contact's box, the report."""
    url = f"http://{config.daemon.metrics_listen}/metrics"
    print(f"\n==> Số liệu / metrics: {url}")
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    for line in text.splitlines():
        shown = ("mailmon_messages_total{", "mailmon_quarantine_messages", "mailmon_mailboxes{")
        if line.startswith(shown) and not line.endswith(" 0.0"):
            print("  " + line)
    contact = config.alerts.fallback_to[0] if config.alerts.fallback_to else ""
    if contact:
        print(
            f"\n==> Thư cảnh báo / alert mail in {contact}'s mailbox "
            f"(sent every {config.alerts.flush_interval_seconds}s)"
        )
        try:
            stack.wait_until(lambda: bool(stack.delivered(contact)), 60, "the alert mail")
        except TimeoutError:
            print("  (chưa có / none yet)")
        for mail in stack.delivered(contact):
            print(f"  {mail['Subject']}")
            body = mail.get_body(preferencelist=("plain",))
            for line in (body.get_content() if body else "").splitlines()[:8]:
                print(f"    {line}")
    report = ROOT / f"bao-cao-{date.today().year}.html"
    print(
        "\n==> Báo cáo / report: "
        + mailmon(config_path, "report", "--period", str(date.today().year), "-o", str(report)).strip()
    )
    print(f"  mở / open file://{report}")
    print("\n==> Cách ly / quarantine:")
    for line in mailmon(config_path, "quarantine", "list", "--all").splitlines():
        print("  " + line)


def show_console(config: Config) -> None:
    """Where the operators' console is, and who can sign in to it (their demo Dovecot passwords)."""
    if not config.web.enabled:
        return
    print(f"\n==> Trang quản trị / operators' console: http://{config.web.listen}/")
    print(f"  cán bộ CNTT của Văn phòng Sở / IT contact of vp.stttt: {HOANT}  mật khẩu / password {CONTACT_PASSWORD}")
    print(f"  quản trị / administrator: {ADMIN}  mật khẩu / password {ADMIN_PASSWORD}")


def print_summary(stack: MailStack, store: Store, sent: list[Sample]) -> None:
    rows = list(reversed(store.messages.recent(limit=1000)))
    findings = store.messages.recent_findings(limit=1000)
    by_message: dict[int, list[dict[str, object]]] = {}
    for f in findings:
        by_message.setdefault(int(f["message"]), []).append(f)
    print("\n==> Kết quả / results")
    counts = {"delivered": 0, "rejected": 0, "quarantined": 0}
    for sample in sent:
        print(f"\n  {sample.label}")
        for row in (r for r in rows if sample.token in (r["message_id"] or "")):
            outcome = str(row["outcome"])
            verdict = str(row["verdict"])
            kind = {"pass": "delivered", "tag": "delivered", "reject": "rejected"}.get(verdict, "quarantined")
            counts[kind] += 1
            print(f"    {row['mail_from']} -> {', '.join(row['rcpt_tos'])} [{row['direction']}]: {outcome}")
            for f in by_message.get(int(row["id"]), []):
                print(f"      {f['rule']} ({f['citation']}, {f['action']}): {f['detail']}")
    print("\n==> Ở đâu / where")
    for address in (VANPHONG, HOANT, KETOAN):
        print(f"  {address}: {len(stack.delivered(address))} thư trong hộp / messages in the mailbox")
    outside = stack.sink_messages()
    print(f"  ra ngoài / relayed outside (sink): {len(outside)} — " + ", ".join(f"{m.rcpt_tos[0]}" for m in outside))
    held = store.quarantine.entries(None)
    print(f"  cách ly / quarantine: {len(held)} (mailmon quarantine list --all)")
    print(
        f"\n==> Tổng / totals: delivered {counts['delivered']}, rejected {counts['rejected']}, "
        f"quarantined {counts['quarantined']}"
    )
    print(
        "  Thư bị từ chối được Postfix trả về người gửi kèm lý do / rejected mail was bounced to its "
        "sender with the reason (see the sender's mailbox)."
    )


if __name__ == "__main__":
    sys.exit(main())
