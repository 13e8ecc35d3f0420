"""Two `mailmon run` nodes on one PostgreSQL store, beside the real Postfix and Dovecot: a sender's
windows are counted once across both, a message quarantined on one is shown, released and deleted
from the other, each job has one leader, and when the leader is killed with -9 the other takes its
jobs and the Dovecot log over — nothing lost, nothing twice.

Whatever back end the rest of the suite runs on, this test needs PostgreSQL (SQLite is one node):
it uses the suite's throwaway cluster and a database of its own.
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from mailstack import MailStack
from mailstack.postgres import PostgresCluster
from tests.conftest import FilterProcess, mailmon, tables
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

HOANT = "hoant.stttt@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"
GIAMDOC = "giamdoc@example.gov.vn"  # logs in to Dovecot; nothing else touches this box here
PARTNER = "lanhdao@partner.gov.vn"
JOBS = {"sweep", "retention", "alerts", "digest", "log_follower", "mailbox_metrics"}  # with the console off
DEADLINE = 60.0
B_LATER = 20.0  # seconds between the two nodes' starts (see the test)
# What the scheduler logs when the sweep's run (interval: 1 minute, config below) has come round and returned.
SWEEP_RAN = re.compile(r'Job "[^"\n]*\(trigger: interval\[0:01:00\][^"\n]*" executed successfully')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_config(directory: Path, url: str, stack: MailStack, listen: int, metrics: int, secret: Path) -> Path:
    directory.mkdir()
    path = directory / "config.toml"
    path.write_text(
        "[organization]\n"
        'local_domains = ["example.gov.vn"]\n'
        'government_domains = ["gov.vn"]\n'
        "[storage]\n"
        f'database = "{directory / "unused.sqlite3"}"\n'
        f'url = "{url}"\n'
        f'spool_dir = "{directory / "spool"}"\n'
        f'quarantine_dir = "{directory / "quarantine"}"\n'
        "[filter]\n"
        f'listen = "127.0.0.1:{listen}"\n'
        f'reinject = "127.0.0.1:{stack.ports.reinject}"\n'
        "workers = 1\n"
        "[ratelimit]\n"
        "cooldown_minutes = 60\n"
        "[ratelimit.limits.personal]\n"
        "messages_per_hour = 3\n"
        "external_recipients_per_hour = 50\n"
        "external_recipients_per_day = 100\n"
        "[dovecot]\n"
        'master_user = "monitor"\n'
        f'master_password_file = "{secret}"\n'
        f'imap = "127.0.0.1:{stack.ports.imap}"\n'
        f'managesieve = "127.0.0.1:{stack.ports.sieve}"\n'
        "sweep_boxes_per_second = 0\n"
        "[daemon]\n"
        f'log_source = "{stack.dovecot_log}"\n'
        "sweep_interval_minutes = 1\n"
        "drain_timeout_seconds = 20\n"
        f'metrics_listen = "127.0.0.1:{metrics}"\n'
        "[alerts]\n"
        f'relay = "127.0.0.1:{stack.ports.reinject}"\n'
        "flush_interval_seconds = 5\n"
        'from_address = "mailmon@example.gov.vn"\n'
        'fallback_to = ["postmaster@example.gov.vn"]\n'
        "[web]\n"
        "enabled = false\n",
        encoding="utf-8",
    )
    return path


class Node(FilterProcess):
    def __init__(self, name: str, config: Path, port: int, metrics_port: int) -> None:
        super().__init__(config, port, config.parent / "run.log", command="run")
        self.name, self.metrics_port = name, metrics_port

    def scrape(self) -> list[Metric]:
        """This node's /metrics, parsed."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read().decode()
        return list(text_string_to_metric_families(text))

    def leaders(self) -> dict[str, float]:
        """``mailmon_job_leader`` by job, as this node's /metrics says."""
        return {
            sample.labels["job"]: sample.value
            for family in self.scrape()
            if family.name == "mailmon_job_leader"
            for sample in family.samples
        }

    def families(self) -> set[str]:
        """The metric families with at least one sample on this node's /metrics."""
        return {family.name for family in self.scrape() if family.samples}

    def follows_the_log(self) -> bool:
        return "leadership: this node now runs log:" in self.logs()

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def send(port: int, subject: str, sender: str, to: str, body: str = "Kính gửi anh chị.\n") -> int:
    """Send one message straight to a node's filter; the SMTP code it ended with (250, or a 4xx/5xx)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=60) as smtp:
            smtp.sendmail(sender, [to], message(subject, sender=sender, to=to, body=body).as_bytes())
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused) as exc:
        code = exc.smtp_code if not isinstance(exc, smtplib.SMTPRecipientsRefused) else exc.recipients[to][0]
        return int(code)
    return 250


LOGIN_RE = re.compile(
    rf"(?:imap|pop3|managesieve|submission)-login: (?:Info: )?Login: user=<{re.escape(GIAMDOC)}>.*?session=<([^>]+)>"
)


def imap_login(stack: MailStack) -> str:
    """Log in to Dovecot as the test user; the session id its Login line in Dovecot's log carries."""
    before = stack.dovecot_log.stat().st_size
    stack.imap(GIAMDOC).logout()
    found: list[str] = []

    def logged() -> bool:
        with stack.dovecot_log.open("rb") as fh:
            fh.seek(before)
            found[:] = LOGIN_RE.findall(fh.read().decode("utf-8", "replace"))
        return len(found) == 1

    stack.wait_until(logged, DEADLINE, "the login in Dovecot's log")
    return found[0]


def test_two_nodes_share_one_store(stack: MailStack, postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    stack.clear()
    database = f"nodes_{uuid.uuid4().hex[:12]}"
    postgres_cluster.create_database(database)
    url = postgres_cluster.create_schema(database, "mailmon")
    db = tables(url)
    secret = tmp_path / "master-password"
    secret.write_text(stack.master_user[1] + "\n")
    ports = {"a": (stack.ports.filter, free_port()), "b": (free_port(), free_port())}
    configs = {n: node_config(tmp_path / n, url, stack, *ports[n], secret) for n in ports}
    (tmp_path / "units.csv").write_text("unit,name,parent,it_contact\nstttt,Sở TT&TT,,cntt@example.gov.vn\n")
    (tmp_path / "mailboxes.csv").write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        f"{VANPHONG},Văn phòng,stttt,unit,active,2025-01-01,2026-10-01,1024\n"
    )
    imported = mailmon(
        configs["a"], "directory", "import", str(tmp_path / "units.csv"), str(tmp_path / "mailboxes.csv")
    )
    assert imported.returncode == 0, imported.stderr

    a = Node("a", configs["a"], *ports["a"])
    b = Node("b", configs["b"], *ports["b"])
    try:
        a.start()  # A first: it takes every job and the log before B is there to ask
        a_started = time.monotonic()
        stack.wait_until(lambda: a.leaders() == dict.fromkeys(JOBS, 1.0) and a.follows_the_log(), DEADLINE, "A leads")
        before_kill = imap_login(stack)
        stack.wait_until(
            lambda: db.rows("SELECT id FROM login_events WHERE session = ?", [before_kill]) != [],
            DEADLINE,
            "the login before the kill in login_events",
        )
        # Each node's first sweep is due 30 s after it starts. B starts B_LATER after A, so that when
        # A is killed just after its first sweep, B has taken the sweep over (within TAKE_OVER_SECONDS)
        # by the time its own first one comes round: then B must find the interval already swept.
        time.sleep(max(0.0, a_started + B_LATER - time.monotonic()))
        b.start()
        stack.wait_until(lambda: set(b.leaders()) == JOBS, DEADLINE, "B's first take-over round")

        # 1. Shared windows: 3 messages an hour; 2 through A, 2 through B: the 4th holds the sender.
        sent: dict[str, int] = {}
        for i, node in enumerate((a, b, a, b)):
            sent[f"khach{i}@gmail.com"] = send(node.port, f"thông báo {i}", HOANT, f"khach{i}@gmail.com")
        assert list(sent.values()) == [250, 250, 250, 451], sent
        sent["khach4@gmail.com"] = send(a.port, "thông báo 4", HOANT, "khach4@gmail.com")
        assert sent["khach4@gmail.com"] == 451  # held on the node that did not hold it, too
        assert db.rows("SELECT sender FROM held_senders WHERE released_at IS NULL") == [{"sender": HOANT}]
        # the three that went, counted once each whichever node took them; the refused 4th is not counted
        assert db.value("SELECT count(*) AS n FROM send_events WHERE sender = ?", [HOANT]) == 3
        assert HOANT in mailmon(configs["b"], "senders", "list").stdout

        # 2. Quarantined on A; listed, shown and released from B; another deleted from B.
        def held() -> list[str]:
            return [str(r["id"]) for r in db.rows("SELECT id FROM quarantine WHERE status = 'held'")]

        assert send(a.port, "TỐI MẬT: kế hoạch", PARTNER, VANPHONG, "Bản số 1.\n") == 250
        [release_id] = held()
        assert send(a.port, "TỐI MẬT: kế hoạch", PARTNER, VANPHONG, "Bản số 2.\n") == 250
        [delete_id] = set(held()) - {release_id}
        listed = mailmon(configs["b"], "quarantine", "list")
        assert listed.returncode == 0 and release_id in listed.stdout and delete_id in listed.stdout, listed
        shown = mailmon(configs["b"], "quarantine", "show", release_id)
        assert shown.returncode == 0 and "Bản số 1." in shown.stdout, shown.stderr
        released = mailmon(configs["b"], "quarantine", "release", release_id)
        assert released.returncode == 0 and released.stdout.startswith("đã chuyển"), released.stderr
        deleted = mailmon(configs["b"], "quarantine", "delete", delete_id)
        assert deleted.returncode == 0, deleted.stderr
        again = mailmon(configs["a"], "quarantine", "release", release_id)
        assert again.returncode == 1  # claimed once: A cannot release it a second time
        stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, DEADLINE, "the released message")
        assert "Bản số 1." in stack.delivered(VANPHONG)[0].get_content()
        status = {r["id"]: r["status"] for r in db.rows("SELECT id, status FROM quarantine")}
        assert status == {release_id: "released", delete_id: "deleted"}

        # 3. Jobs once: one leader for each job over both nodes, one sweep in the first interval.
        leaders_a, leaders_b = a.leaders(), b.leaders()
        assert {job: leaders_a[job] + leaders_b[job] for job in JOBS} == dict.fromkeys(JOBS, 1.0)
        # the mailbox states come from one node only, so a dashboard's sum counts each mailbox once
        assert a.families() >= {"mailmon_mailboxes", "mailmon_quarantine_messages"}
        assert "mailmon_mailboxes" not in b.families() and "mailmon_quarantine_messages" in b.families()
        stack.wait_until(lambda: "sweep: 1 mailboxes" in a.logs(), DEADLINE, "A's first sweep")
        first_sweep = db.value("SELECT started FROM job_runs WHERE name = 'sweep'")
        assert not b.follows_the_log()

        # 4. Failover: kill -9 the leader; B takes every job and the log; a login made meanwhile is kept.
        a.kill()
        after_kill = imap_login(stack)
        stack.wait_until(lambda: b.leaders() == dict.fromkeys(JOBS, 1.0), DEADLINE, "B to lead every job")
        took_sweep = b.logs().index("leadership: this node now runs sweep")
        stack.wait_until(
            lambda: SWEEP_RAN.search(b.logs(), took_sweep) is not None,
            DEADLINE,
            "B's first sweep time, now that B leads it",
        )
        # ... and B did not sweep again: the interval had been swept by A (one job_runs start, A's).
        assert "sweep: " not in b.logs() and a.logs().count("sweep: 1 mailboxes") == 1
        assert db.rows("SELECT started FROM job_runs WHERE name = 'sweep'") == [{"started": first_sweep}]
        stack.wait_until(b.follows_the_log, DEADLINE, "B to follow the Dovecot log")
        stack.wait_until(
            lambda: db.rows("SELECT id FROM login_events WHERE session = ?", [after_kill]) != [],
            DEADLINE,
            "the login after the kill in login_events",
        )
        # Every Login line of the user in Dovecot's whole log, each once: A read up to the kill, B on from there.
        stored = db.rows('SELECT session FROM login_events WHERE "user" = ? AND kind = ?', [GIAMDOC, "login"])
        in_log = LOGIN_RE.findall(stack.dovecot_log.read_text("utf-8", "replace"))
        assert {before_kill, after_kill} <= set(in_log)
        assert sorted(r["session"] for r in stored) == sorted(in_log)

        # 5. Nothing lost: every message the filter took arrived, or is in quarantine.
        accepted_out = {to for to, code in sent.items() if code == 250}
        stack.wait_until(
            lambda: {r for m in stack.sink_messages() for r in m.rcpt_tos} >= accepted_out,
            DEADLINE,
            "the accepted outbound mail at the sink",
        )
        refused = {to for to, code in sent.items() if code != 250}
        assert all(400 <= sent[to] < 600 for to in refused) and len(accepted_out) + len(refused) == 5
        assert len(stack.delivered(VANPHONG)) == 1  # the released one; the other was deleted on purpose
    finally:
        for node in (a, b):
            node.stop()
