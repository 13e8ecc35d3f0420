"""The README's rule × profile table is the profiles' own (written by rules/profile_table.py)."""

from __future__ import annotations

from rules.profile_table import markdown
from tests.conftest import REPO


def test_the_readme_table_is_what_the_profiles_say() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    start = readme.index("<!-- profile-table")
    table = readme[readme.index("\n", start) + 1 : readme.index("<!-- /profile-table -->")]
    assert table == markdown(), "README.md is stale: python -m rules.profile_table, and paste it between the markers"
