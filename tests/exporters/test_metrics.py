"""Metrics: counters where events happen, store state at scrape time, served over real HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporters.metrics.http import MetricsServer, serve_metrics
from exporters.metrics.instruments import Metrics, StoreCollector
from exporters.notify.outbox import OutgoingMail, enqueue
from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.directory import import_csv
from monitor.mailboxes.evaluate import load_account_profile
from monitor.store import Store
from tests.conftest import StoreTarget, store_target_for, tables

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class Served:
    """serve_metrics on its own event loop in a thread, as the daemon's loop would run it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: MetricsServer = self._run(serve_metrics(registry, "127.0.0.1", 0))

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/metrics"

    def scrape(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return str(response.read().decode("utf-8"))

    def close(self) -> None:
        self._run(self.server.close())
        self._run(self.server.close())  # a second close is a no-op
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def populated_store(directory: Path) -> StoreTarget:
    (directory / "units.csv").write_text("unit,name,parent,it_contact\nstttt,Sở TT&TT,,it@example.gov.vn\n")
    (directory / "mailboxes.csv").write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        "hoant.stttt@example.gov.vn,Hoa,stttt,personal,active,2025-01-01,2025-01-01,1024\n"
        "vanphong@example.gov.vn,Văn phòng,stttt,unit,active,2025-01-01,2099-01-01,1024\n"
    )
    target = store_target_for(directory)
    store = Store(target)
    assert not import_csv(store, directory / "units.csv", directory / "mailboxes.csv").errors
    store.quarantine.add({"id": "q1", "size": 1000, "path": "/x", "rcpt_tos": ["a@b"]})
    store.quarantine.add({"id": "q2", "size": 500, "path": "/y", "rcpt_tos": ["a@b"]})
    store.quarantine.add({"id": "q3", "size": 7, "path": "/z", "rcpt_tos": ["a@b"], "status": "released"})
    # Vanphong is checked now (a login today), Hoa has never logged in and is over quota.
    tables(target).insert(
        "last_login", {"user": "vanphong@example.gov.vn", "time": datetime.now(TZ).isoformat(), "source": "t"}
    )
    tables(target).insert(
        "mailbox_status",
        {"address": "hoant.stttt@example.gov.vn", "polled_at": "2026-01-01T00:00:00+00:00",
         "quota_used_bytes": 2 * 2**30, "error": None},
    )
    mail = OutgoingMail("alert", "stttt", ("it@example.gov.vn",), "s", "t", "")
    enqueue(store, mail, datetime.now(UTC) - timedelta(minutes=10))
    store.close()
    return target


def record_some_events(metrics: Metrics) -> None:
    metrics.message_filtered("outbound", "quarantine", 0.042, 12_000)
    metrics.message_filtered("inbound", "pass", 0.01, 3_000)
    metrics.finding("virus", "quarantine", "stttt")
    metrics.finding("classified-content", "reject", None)
    metrics.dependency_up("clamd", True)
    metrics.dependency_up("reinject", False)
    metrics.filter_fail_closed("reinject")
    metrics.sweep_finished(3.5, ok=True, when=1_800_000_000.0)
    metrics.alert_sent("digest")
    metrics.alert_failed("alert")
    metrics.job_leader("sweep", True)
    metrics.watch_connections(lambda: 3)
    metrics.connection_refused()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, Metrics]]:
    registry = CollectorRegistry()
    metrics = Metrics(registry, version="9.9.9")
    target = populated_store(tmp_path)
    metrics.add_store_collector(lambda: Store(target, migrate=False), load_account_profile("dn-2022"), Calendar(), TZ)
    record_some_events(metrics)
    server = Served(registry)
    yield server, metrics
    server.close()


def test_nothing_is_registered_on_the_global_registry_at_import() -> None:
    from prometheus_client import REGISTRY

    assert not [n for n in REGISTRY._names_to_collectors if n.startswith("mailmon")]


def test_counters_and_store_state_in_a_real_scrape(served: tuple[Served, Metrics]) -> None:
    server, _ = served
    s = samples(server.scrape())
    assert s[("mailmon_messages_total", (("direction", "outbound"), ("verdict", "quarantine")))] == 1
    assert s[("mailmon_messages_total", (("direction", "relay"), ("verdict", "reject")))] == 0  # pre-created
    assert s[("mailmon_message_bytes_total", (("direction", "outbound"),))] == 12_000
    assert s[("mailmon_inspection_duration_seconds_count", (("direction", "outbound"),))] == 1
    assert s[("mailmon_findings_total", (("action", "quarantine"), ("rule", "virus"), ("unit", "stttt")))] == 1
    assert s[("mailmon_findings_total", (("action", "reject"), ("rule", "classified-content"), ("unit", "unknown")))] == 1
    assert s[("mailmon_dependency_up", (("dependency", "clamd"),))] == 1
    assert s[("mailmon_dependency_up", (("dependency", "reinject"),))] == 0
    assert s[("mailmon_dependency_errors_total", (("dependency", "reinject"),))] == 1
    assert s[("mailmon_filter_fail_closed_total", (("reason", "reinject"),))] == 1
    assert s[("mailmon_build_info", (("version", "9.9.9"),))] == 1
    assert s[("mailmon_sweeps_total", (("result", "ok"),))] == 1
    assert s[("mailmon_sweep_last_success_timestamp_seconds", ())] == 1_800_000_000.0
    assert s[("mailmon_job_leader", (("job", "sweep"),))] == 1
    assert s[("mailmon_filter_connections_open", ())] == 3
    assert s[("mailmon_filter_connections_refused_total", ())] == 1
    # Read from the store at scrape time.
    assert s[("mailmon_quarantine_messages", ())] == 2
    assert s[("mailmon_quarantine_bytes", ())] == 1500
    assert s[("mailmon_alert_outbox_pending", ())] == 1
    assert 590 < s[("mailmon_alert_outbox_oldest_age_seconds", ())] < 700
    assert s[("mailmon_mailboxes", (("state", "active"), ("unit", "stttt")))] == 1
    assert s[("mailmon_mailboxes", (("state", "removal-due"), ("unit", "stttt")))] == 1  # Hoa, never used
    assert s[("mailmon_mailboxes_over_quota", (("unit", "stttt"),))] == 1
    assert s[("mailmon_mailboxes_password_overdue", (("unit", "stttt"),))] == 1  # Hoa: last changed 01/01/2025
    assert 0 <= s[("mailmon_check_frequency_compliance_ratio", (("unit", "stttt"),))] <= 1
    assert not [k for k in s if "mailbox" in dict(k[1]) or "address" in dict(k[1])]  # never per mailbox


def test_mailbox_state_is_cached_between_scrapes(tmp_path: Path) -> None:
    target = populated_store(tmp_path)
    clock = [time.time()]
    collector = StoreCollector(
        lambda: Store(target, migrate=False), load_account_profile("dn-2022"), Calendar(), TZ, 60, clock=lambda: clock[0]
    )
    registry = CollectorRegistry()
    registry.register(collector)
    assert registry.get_sample_value("mailmon_mailboxes", {"unit": "stttt", "state": "active"}) == 1
    tables(target).execute("UPDATE mailboxes SET status = 'departed' WHERE address = 'vanphong@example.gov.vn'")
    tables(target).execute("UPDATE quarantine SET status = 'released' WHERE id = 'q1'")
    clock[0] += 30
    assert registry.get_sample_value("mailmon_mailboxes", {"unit": "stttt", "state": "active"}) == 1  # cached
    assert registry.get_sample_value("mailmon_quarantine_messages") == 1  # cheap: read on every scrape
    clock[0] += 31
    assert registry.get_sample_value("mailmon_mailboxes", {"unit": "stttt", "state": "active"}) == 0
    assert registry.get_sample_value("mailmon_mailboxes", {"unit": "stttt", "state": "departed"}) == 1


def test_only_the_leading_node_exports_mailbox_states(tmp_path: Path) -> None:
    """On a shared store every node would export the same mailboxes (a dashboard's sum would count them
    once per node): a node that does not lead ``mailbox_metrics`` leaves them out, and does not evaluate."""
    target = populated_store(tmp_path)
    leads = [False]
    collector = StoreCollector(
        lambda: Store(target, migrate=False), load_account_profile("dn-2022"), Calendar(), TZ, 60, leads=lambda: leads[0]
    )
    registry = CollectorRegistry()
    registry.register(collector)
    assert registry.get_sample_value("mailmon_mailboxes", {"unit": "stttt", "state": "active"}) is None
    assert registry.get_sample_value("mailmon_quarantine_messages") == 2  # the rest is exported by every node
    leads[0] = True  # it took the lead over (the other node died)
    assert registry.get_sample_value("mailmon_mailboxes", {"unit": "stttt", "state": "active"}) == 1
    leads[0] = False
    assert registry.get_sample_value("mailmon_mailboxes_over_quota", {"unit": "stttt"}) is None


def test_server_answers_404_and_stops(served: tuple[Served, Metrics]) -> None:
    server, _ = served
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server.url.replace("/metrics", "/nope"), timeout=10)
    assert err.value.code == 404
    err.value.close()
    port = server.server.port
    server._run(server.server.close())
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
