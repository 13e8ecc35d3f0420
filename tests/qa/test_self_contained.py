"""The repository explains itself: what the code cites is in docs/, and nothing points outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from monitor.inspect.limits import Limits
from tests.conftest import REPO

# Names of documents that were never part of the repository, paths of the machine it was written on,
# and ways of pointing at text elsewhere. (Each written so that this file does not match itself.)
OUTSIDE = re.compile(
    r"DEP[S]\.md|DESIG[N]\.md|STYL[E]\.md|STAC[K]\.md|REGULATION[S](-AUDIT)?\.md|ARCHITECTURE-REVIE[W]"
    r"|\.\./share[d]|/wor[k]/|\bthe issu[e]\b|\(G\d+\)|\bG\d+, G\d+\b|DEP[S] §\d+",
    re.IGNORECASE,
)
# The one test allowed to read beside the repository: the citations against the regulation texts
# (and the module that reads those texts for it).
EXEMPT = {Path("tests/rules/test_profile_citations.py"), Path("tests/rules/regulation_text.py")}
DOC_REFERENCE = re.compile(r'docs/([\w.-]+\.md)(?:,\s*"([^"]+)")?')


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [Path(line) for line in out.splitlines() if (REPO / line).is_file()]


def texts() -> list[tuple[Path, str]]:
    suffixes = {".py", ".md", ".toml", ".yml", ".yaml", ".j2", ".json", ".service", ".sh", ".txt", ""}
    found = []
    for path in tracked_files():
        if path.suffix not in suffixes or path.parts[:2] == ("tests", "samples"):
            continue
        try:
            found.append((path, (REPO / path).read_text("utf-8")))
        except UnicodeDecodeError:
            continue
    return found


def test_nothing_points_outside_the_repository() -> None:
    bad = []
    for path, text in texts():
        if path in EXEMPT:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                bad.append(f"{path}:{n}: {line.strip()[:100]}")
    assert not bad, "these point at documents outside the repository:\n" + "\n".join(bad)


def test_every_cited_document_and_section_exists() -> None:
    missing = []
    cited = 0
    for path, text in texts():
        for match in DOC_REFERENCE.finditer(text):
            cited += 1
            doc = REPO / "docs" / match.group(1)
            if not doc.exists():
                missing.append(f"{path}: docs/{match.group(1)} does not exist")
                continue
            section = match.group(2)
            headings = {h.strip() for h in re.findall(r"^#+ (.+)$", doc.read_text("utf-8"), re.MULTILINE)}
            if section and section not in headings:
                missing.append(f'{path}: docs/{match.group(1)} has no section "{section}"')
    assert cited >= 10, "the code cites docs/ for its choices"
    assert not missing, "\n".join(missing)


def test_the_architecture_page_shows_both_flows() -> None:
    page = (REPO / "docs" / "architecture.md").read_text("utf-8")
    for heading in ("The message flow", "The mailbox flow", "The store"):
        assert f"## {heading}" in page


def test_the_readme_inspection_table_shows_the_defaults_of_limits() -> None:
    """The README's [inspection] table and monitor/inspect/limits.py (the one definition) agree."""
    readme = (REPO / "README.md").read_text("utf-8")
    rows = dict(re.findall(r"^\| (max_\w+) \| ([\d.]+) \|", readme, re.MULTILINE))
    defaults = Limits()
    assert rows, "the README has an [inspection] table"
    for key, value in rows.items():
        assert float(value) == float(getattr(defaults, key)), f"README says {key} = {value}"
