"""A real Prometheus (Debian's) scrapes serve_metrics; promtool checks the exposition and the alert rules."""

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
from tests.conftest import REPO
from tests.exporters.test_metrics import Served, record_some_events

ALERTS = REPO / "exporters" / "metrics" / "prometheus" / "alerts.yml"
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
