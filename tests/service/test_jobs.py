"""The service's scheduled jobs on the batch store: retention, a sweep that cannot start, alerting with the
relay down."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from exporters.metrics.instruments import Metrics
from exporters.notify.outbox import outbox
from monitor.config import Config, load_config
from monitor.service.jobs import Jobs
from monitor.store import AsyncStore, Concern, FindingRecord, MessageRecord, Store
from tests.conftest import StoreTarget, store_target_for, tables, write_config

HOANT = "hoant.stttt@example.gov.vn"


def record(store: Store, when: datetime, token: str) -> int:
    about = (Concern(HOANT, "stttt"),)
    return store.messages.record(
        MessageRecord(
            message_id=f"<{token}@x>", queue_id="Q", client_addr="", mail_from=HOANT, rcpt_tos=("a@partner.gov.vn",),
            direction="outbound", size=10, verdict="quarantine", seconds=0.1, outcome="quarantined",
            concerns=about, time=when.isoformat(),
        ),
        [FindingRecord("virus", "critical", "quarantine", "Eicar", "DN-2022 Đ13.2", about)],
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_job(config: Config, target: StoreTarget, job: str) -> Metrics:
    metrics = Metrics(CollectorRegistry(), version="test")

    async def main() -> None:
        store = AsyncStore(target, name="batch")
        await store.open()
        try:
            await getattr(Jobs(config, store, metrics), job)()
        finally:
            await store.close()

    asyncio.run(main())
    return metrics


def test_retention_deletes_old_records_quarantine_files_and_send_events(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    store = Store(store_target_for(tmp_path))
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=config.daemon.retention_days_findings + 1), now - timedelta(days=1)
    for i in range(3):
        record(store, old, f"old{i}")
    kept = record(store, recent, "new")
    files = {}
    for name, when in (("q-old", now - timedelta(days=config.daemon.retention_days_quarantine + 1)), ("q-new", recent)):
        files[name] = tmp_path / f"{name}.eml"
        files[name].write_bytes(b"Subject: x\r\n\r\nx\r\n")
        store.quarantine.add({"id": name, "time": when.isoformat(), "path": str(files[name]), "rcpt_tos": ["a@b"]})
    store.senders.record_sending(
        HOANT, [("a@partner.gov.vn", True)], "<s@x>", ((now - timedelta(days=3)).isoformat(), "", ""),
        lambda counts: None, "",
    )
    store.close()

    run_job(config, store_target_for(tmp_path), "retention")

    db = tables(store_target_for(tmp_path))
    assert db.rows("SELECT message_id FROM messages") == [{"message_id": "<new@x>"}]
    assert db.rows("SELECT message FROM findings") == [{"message": kept}]
    assert {r["message"] for r in db.rows("SELECT message FROM concerns")} == {kept}
    assert db.count("send_events") == 0
    assert not files["q-old"].exists() and files["q-new"].exists()
    statuses = db.rows("SELECT id, status FROM quarantine ORDER BY id")
    assert statuses == [{"id": "q-new", "status": "held"}, {"id": "q-old", "status": "deleted"}]


def test_a_sweep_that_cannot_start_marks_imap_down(tmp_path: Path) -> None:
    extra = f'[dovecot]\nmaster_password_file = "{tmp_path / "missing-secret"}"\n'
    metrics = run_job(load_config(write_config(tmp_path, extra)), store_target_for(tmp_path), "sweep")
    registry = metrics.registry
    assert registry.get_sample_value("mailmon_sweeps_total", {"result": "failed"}) == 1
    assert registry.get_sample_value("mailmon_dependency_up", {"dependency": "imap"}) == 0


def test_alerts_with_the_relay_down_stay_in_the_outbox(tmp_path: Path) -> None:
    config = load_config(
        write_config(tmp_path, f'[alerts]\nrelay = "127.0.0.1:{closed_port()}"\nfallback_to = ["it@example.gov.vn"]\n')
    )
    target = store_target_for(tmp_path)
    run_job(config, target, "alerts")  # the first run starts the cursor: history is not alerted
    store = Store(target)
    record(store, datetime.now(UTC), "virus")
    store.close()
    metrics = run_job(config, target, "alerts")
    (mail,) = outbox(Store(target))
    assert mail["status"] == "pending" and mail["attempts"] == 1 and "Connection refused" in mail["last_error"]
    assert mail["to_addrs"] == ["it@example.gov.vn"]  # stttt is not in this directory: the fallback
    assert metrics.registry.get_sample_value("mailmon_alert_mail_failures_total", {"kind": "alert"}) == 1

