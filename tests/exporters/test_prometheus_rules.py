"""A real Prometheus (Debian's) scrapes mailmon; promtool checks the exposition and the alert rules; a real
clamd outage fires the shipped MailmonClamdDown."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from exporters.metrics.instruments import Metrics
from mailstack import MailStack
from mailstack.clamd import ping
from tests.conftest import REPO, FilterProcess, write_config
from tests.exporters.test_metrics import Served, record_some_events
from tests.samples.make_samples import message

ALERTS = REPO / "exporters" / "metrics" / "prometheus" / "alerts.yml"
PARTNER = "lanhdao@partner.gov.vn"
VANPHONG = "vanphong@example.gov.vn"
pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="prometheus and promtool come from the Debian package prometheus (scripts/setup installs it)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, root: Path, target: str) -> None:
        self.port = free_port()
        self.log = root / "prometheus.log"
        config = root / "prometheus.yml"
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(ALERTS)],
                    "scrape_configs": [{"job_name": "mailmon", "static_configs": [{"targets": [target]}]}],
                }
            )
        )
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        self.wait(lambda: self.get("/-/ready", raw=True) is not None, "Prometheus ready", 30)

    def get(self, path: str, raw: bool = False) -> Any:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                body = r.read()
        except OSError:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log.read_text()[-3000:]}") from None
            return None
        return body if raw else json.loads(body)

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        return list(answer["data"]["result"]) if answer else []

    def wait(self, predicate: Any, what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not after {timeout}s\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, Metrics, Served]]:
    registry = CollectorRegistry()
    metrics = Metrics(registry, version="0.1.0")
    served = Served(registry)
    prom = Prometheus(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{served.server.port}")
    yield prom, metrics, served
    prom.stop()
    served.close()


def test_prometheus_scrapes_a_filtered_message(setup: tuple[Prometheus, Metrics, Served]) -> None:
    prom, metrics, _ = setup
    started = time.monotonic()
    metrics.message_filtered("outbound", "quarantine", 0.05, 2048)
    expr = 'mailmon_messages_total{job="mailmon", direction="outbound", verdict="quarantine"}'
    prom.wait(lambda: [r["value"][1] for r in prom.query(expr)] == ["1"], "mailmon_messages_total in Prometheus")
    assert prom.query('up{job="mailmon"}')[0]["value"][1] == "1"
    assert prom.query("mailmon_build_info")[0]["metric"]["version"] == "0.1.0"
    # The alert rules load in the real server too.
    groups = prom.get("/api/v1/rules")["data"]["groups"]
    assert {r["name"] for g in groups for r in g["rules"]} >= {"MailmonClamdDown", "MailmonVirusBurst"}
    assert time.monotonic() - started < 20


def test_promtool_check_metrics_finds_no_problem(setup: tuple[Prometheus, Metrics, Served]) -> None:
    _, metrics, served = setup
    record_some_events(metrics)
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=served.scrape(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip() == "" and out.stderr.strip() == "", out.stdout + out.stderr


def test_promtool_alert_rule_tests_pass() -> None:
    out = subprocess.run(
        ["promtool", "test", "rules", str(ALERTS.with_name("alerts_test.yml"))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


@pytest.mark.stack
def test_clamd_outage_fires_the_shipped_alert_from_a_real_mailmon(stack: MailStack, tmp_path: Path) -> None:
    """The real stack's clamd stops; `mailmon run` answers 451 and drops its clamd gauge; a real
    Prometheus with the shipped alerts.yml, unchanged (`for: 2m`), fires MailmonClamdDown."""
    stack.clear()
    metrics_port = free_port()
    extra = (
        f'[clamav]\nenabled = true\naddress = "127.0.0.1:{stack.ports.clamd}"\ntimeout_seconds = 10\n'
        f'[daemon]\nmetrics_listen = "127.0.0.1:{metrics_port}"\n[alerts]\nenabled = false\n'
    )
    config = write_config(
        tmp_path, extra, listen=f"127.0.0.1:{stack.ports.filter}", reinject=f"127.0.0.1:{stack.ports.reinject}", workers=1
    )
    mailmon = FilterProcess(config, stack.ports.filter, tmp_path / "mailmon.log", command="run")
    mailmon.start()
    prom = Prometheus(tmp_path, f"127.0.0.1:{metrics_port}")
    assert stack.clamd is not None
    try:
        gauge = 'mailmon_dependency_up{job="mailmon", dependency="clamd"}'
        stack.send(message("Quét được", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
        stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 60, "delivery with clamd up")
        prom.wait(lambda: [r["value"][1] for r in prom.query(gauge)] == ["1"], "clamd up in Prometheus", 30)
        assert alert_state(prom, "MailmonClamdDown") is None

        stack.clamd.stop()
        stack.send(message("Chờ quét", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
        prom.wait(lambda: [r["value"][1] for r in prom.query(gauge)] == ["0"], "clamd down in Prometheus", 60)
        prom.wait(lambda: alert_state(prom, "MailmonClamdDown") == "pending", "MailmonClamdDown pending", 30)
        reasons = prom.query('mailmon_filter_fail_closed_total{job="mailmon", reason="clamd"}')
        assert reasons and float(reasons[0]["value"][1]) >= 1
        # The rule's own `for: 2m`, as shipped.
        prom.wait(lambda: alert_state(prom, "MailmonClamdDown") == "firing", "MailmonClamdDown firing", 200)
        (alert,) = [a for a in prom.get("/api/v1/alerts")["data"]["alerts"] if a["labels"]["alertname"] == "MailmonClamdDown"]
        assert alert["labels"]["severity"] == "critical" and "clamd" in alert["annotations"]["summary"]
        assert len(stack.delivered(VANPHONG)) == 1  # the second message waits in Postfix, not lost
        stack.clamd.start(time.monotonic() + 60)
        stack.flush_queue()
        stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 2, 60, "delivery once clamd is back")
        prom.wait(lambda: [r["value"][1] for r in prom.query(gauge)] == ["1"], "clamd up again", 30)
    finally:
        if not ping(stack.ports.clamd):
            stack.clamd.start(time.monotonic() + 60)
        prom.stop()
        mailmon.stop()


def alert_state(prom: Prometheus, name: str) -> str | None:
    answer = prom.get("/api/v1/alerts")
    states = [a["state"] for a in (answer or {"data": {"alerts": []}})["data"]["alerts"] if a["labels"]["alertname"] == name]
    return states[0] if states else None
