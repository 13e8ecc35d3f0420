"""The Grafana dashboard: every panel query parses (promtool) and uses only metrics mailmon exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporters.metrics.instruments import Metrics
from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import load_account_profile
from monitor.store import Store
from tests.conftest import REPO
from tests.exporters.test_metrics import Served, populated_store, record_some_events

DASHBOARD = REPO / "exporters" / "metrics" / "grafana" / "mailmon.json"
# Grafana's variables, replaced by what Grafana would send to Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "2m", "$__interval": "1m", "$__range": "24h", "$unit": ".*"}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return [p for p in out if p["type"] != "row"]


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for panel in panels(dashboard):
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"panel {panel['title']!r}: unknown variable in {expr}"
            found.append((f"{panel['id']}{target['refId']}", expr))
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text("utf-8"))
    return data


def test_dashboard_is_provisionable_with_a_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert dashboard["uid"] and "id" not in dashboard  # provisioning assigns the numeric id
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]
    titles = " ".join(p["title"] for p in panels(dashboard))
    for topic in ("verdict", "rule", "unit", "Check-frequency", "Dependencies"):
        assert topic in titles


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) is not installed")
def test_every_panel_expression_parses_in_promtool(dashboard: dict[str, Any], tmp_path: Path) -> None:
    rules = [{"record": f"mailmon_dashboard:panel_{key.lower()}", "expr": expr} for key, expr in expressions(dashboard)]
    assert len(rules) >= 20
    path = tmp_path / "dashboard_rules.yml"
    # JSON is YAML: no YAML library needed to write a rule file.
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}, ensure_ascii=False))
    out = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules)} rules found" in out.stdout


def test_every_metric_name_exists_in_a_real_scrape(dashboard: dict[str, Any], tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, version="test")
    target = populated_store(tmp_path)
    metrics.add_store_collector(
        lambda: Store(target, migrate=False), load_account_profile("dn-2022"), Calendar(), ZoneInfo("Asia/Ho_Chi_Minh")
    )
    record_some_events(metrics)
    served = Served(registry)
    try:
        scraped = {s.name for f in text_string_to_metric_families(served.scrape()) for s in f.samples}
    finally:
        served.close()
    used = {name for _, expr in expressions(dashboard) for name in re.findall(r"\bmailmon_[a-z0-9_]+\b", expr)}
    assert len(used) >= 15
    assert not used - scraped, f"the dashboard uses metrics mailmon does not export: {sorted(used - scraped)}"
