"""Every citation of every profile against the original regulations: the article exists, the clause (point,
dash item, paragraph) exists, the quoted words are there, and they speak of what the rule checks.

The originals live beside the repository (../shared/regulations/, or MAILMON_REGULATIONS_DIR); in a bare
clone without them the checks against the text skip, saying so. The checks that need no original
(every rule cited, aspects known, comments in the profile files) always run.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from rules.base import Cite
from rules.catalogue import rule_catalogue
from rules.profile import PROFILE_NAMES, RULE_IDS, load_profile
from tests.conftest import REPO
from tests.rules.regulation_text import Original, fold, original_of, quote_in, regulations_dir

CATALOGUE = rule_catalogue()


def every_cite() -> list[tuple[str, str, Cite]]:
    return [
        (name, rule_id, cite)
        for name in PROFILE_NAMES
        for rule_id, policy in load_profile(name).rules.items()
        for cite in policy.cites
    ]


@cache
def original(name: str) -> Original:
    folder = regulations_dir()
    if not folder.is_dir():
        pytest.skip(f"the original regulations are not at {folder} (a bare clone): citations not checked against them")
    return original_of(load_profile(name).regulation.number, folder)


@pytest.mark.parametrize(("name", "rule_id", "cite"), every_cite(), ids=lambda v: str(v) if isinstance(v, Cite) else v)
def test_the_cited_clause_exists_and_says_what_the_rule_checks(name: str, rule_id: str, cite: Cite) -> None:
    text = original(name)
    assert cite.article is not None
    try:
        segment = text.segment(
            cite.article, cite.clause, cite.point, cite.bullet, cite.paragraph, cite.occurrence, cite.decision
        )
    except LookupError as exc:
        pytest.fail(f"{name} {rule_id}: {cite} does not exist in {text.path.name}: {exc}")
    assert quote_in(cite.quote, segment), f"{name} {rule_id}: {cite} does not say {cite.quote!r}:\n{segment}"
    topic = CATALOGUE[rule_id].topic
    assert any(word in fold(cite.quote) for word in topic), (
        f"{name} {rule_id}: the words quoted for {cite} speak of none of {topic}: {cite.quote!r}"
    )


def test_every_citation_is_checked() -> None:
    cites = every_cite()
    assert {name for name, _, _ in cites} == set(PROFILE_NAMES)
    assert len(cites) >= 5 * 5
    for name, rule_id, cite in cites:
        assert cite.quote and cite.title_vi and cite.title_en, f"{name} {rule_id}: {cite} lacks its quote or titles"


def test_profiles_switch_every_rule_and_cite_what_they_switch_on() -> None:
    assert set(CATALOGUE) == set(RULE_IDS)
    for name in PROFILE_NAMES:
        profile = load_profile(name)
        assert set(profile.rules) == set(RULE_IDS)
        for rule_id, policy in profile.rules.items():
            assert bool(policy.cites) == policy.enabled, f"{name} {rule_id}: on without a clause, or off with one"
            for cite in policy.cites:
                assert set(cite.aspects) <= set(CATALOGUE[rule_id].aspects), f"{name} {rule_id}: {cite.aspects}"
                assert str(cite).startswith(profile.regulation.short_name + " Đ")


def test_the_originals_are_found_by_their_numbers() -> None:
    folder = regulations_dir()
    if not folder.is_dir():
        pytest.skip(f"the original regulations are not at {folder} (a bare clone)")
    files = {original(name).path for name in PROFILE_NAMES}
    assert len(files) == len(PROFILE_NAMES)


@pytest.mark.parametrize("name", [*PROFILE_NAMES, "shared"])
def test_every_value_of_a_profile_file_says_where_it_comes_from(name: str) -> None:
    """A comment sits above every value (its article and clause, or why it is mailmon's own)."""
    lines = (REPO / "rules" / "profiles" / f"{name}.toml").read_text("utf-8").splitlines()
    status = {"enabled", "mode", "cites"}
    in_array = False
    for i, line in enumerate(lines):
        text = line.strip()
        if in_array:
            in_array = not text.startswith("]")
            continue
        match = re.match(r'^([A-Za-z0-9_"\-.]+)\s*=\s*(.*)$', text)
        if not match:
            continue
        if match.group(2).startswith("[") and not match.group(2).endswith("]"):
            in_array = True
        key = match.group(1)
        if key in status or lines[i - 1].strip().startswith("#") or _regulation_header(lines, i):
            continue
        if _inside_table_of_pairs(lines, i):
            continue
        pytest.fail(f"{name}.toml:{i + 1}: no comment above {text[:60]!r}")


def _regulation_header(lines: list[str], i: int) -> bool:
    """[regulation]'s keys are the decision's header itself."""
    for line in reversed(lines[:i]):
        if line.startswith("["):
            return line.strip() == "[regulation]"
    return False


def _inside_table_of_pairs(lines: list[str], i: int) -> bool:
    """The rows of a domain → name table (shared.toml [lists.service_domains]) share the comment above it."""
    for line in reversed(lines[:i]):
        if line.startswith("["):
            return line.strip() == "[lists.service_domains]"
    return False
