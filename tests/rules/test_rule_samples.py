"""Every traffic rule against its sample messages (tests/samples/<rule-id>/NAME.eml + NAME.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from monitor.inspect.limits import Limits
from monitor.inspect.pipeline import Settings, evaluate
from rules import TRAFFIC_RULES
from rules.facts import Domains
from rules.profile import load_profile
from tests.conftest import SAMPLES_DIR

SAMPLES = SAMPLES_DIR
DOMAINS = Domains(local=("example.gov.vn",), government=("gov.vn",))


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*/*.eml"))


@pytest.mark.parametrize("eml", sample_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_sample(eml: Path) -> None:
    rule_id = eml.parent.name
    meta = tomllib.loads(eml.with_suffix(".toml").read_text("utf-8"))
    settings = Settings(
        domains=DOMAINS,
        profile=load_profile(meta.get("regulation", "dn-2022"), meta.get("profile", {})),
        limits=Limits(),
    )
    evaluation = evaluate(eml.read_bytes(), meta["mail_from"], tuple(meta["rcpt"]), settings)
    found = [f for f in evaluation.findings if f.rule == rule_id]
    details = [f.detail for f in found]
    if meta["hit"]:
        assert found, f"{eml}: expected {rule_id} to fire; found {[(f.rule, f.detail) for f in evaluation.findings]}"
        if "detail" in meta:
            assert any(meta["detail"] in d for d in details), f"{eml}: {meta['detail']!r} not in {details}"
        short = settings.profile.regulation.short_name
        assert all(f.citation.startswith(short + " Đ") for f in found), [f.citation for f in found]
    else:
        assert not found, f"{eml}: expected no {rule_id}; found {details}"


def test_every_rule_has_hit_and_miss_samples() -> None:
    for rule_id, rule in TRAFFIC_RULES.items():
        if getattr(rule, "samples_need_servers", False):
            continue  # judged from clamd's or the sending history's evidence: tested against real servers
        metas = [tomllib.loads(p.read_text("utf-8")) for p in (SAMPLES / rule_id).glob("*.toml")]
        assert any(m["hit"] for m in metas), f"rule {rule_id} has no hit sample"
        assert any(not m["hit"] for m in metas), f"rule {rule_id} has no miss sample"
