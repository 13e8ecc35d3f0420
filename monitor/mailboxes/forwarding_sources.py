"""Forwarding rules set by users: `redirect` actions in each mailbox's active Sieve script.

Parsed with sievelib; a script it cannot parse (editheader, include, …) falls back to a regex
for redirect, so an unusual script never hides a forward. `${variables}` targets are reported
as needing review.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sievelib.parser import Parser

_REDIRECT = re.compile(r'\bredirect\b(?:\s+:\w+)*\s+"([^"]+)"', re.IGNORECASE)


def _walk(commands: list[Any]) -> Iterator[Any]:
    for command in commands:
        yield command
        yield from _walk(list(getattr(command, "children", []) or []))


def redirect_targets(script: str) -> list[str]:
    """Every address the script redirects to (with or without :copy, at any nesting)."""
    parser = Parser()
    if parser.parse(script):
        targets = []
        for command in _walk(parser.result or []):
            if getattr(command, "name", "") == "redirect":
                address = str(command.arguments.get("address", "")).strip('"')
                if address:
                    targets.append(address)
        return targets
    return _REDIRECT.findall(script)


def parse_virtual_aliases(text: str) -> dict[str, list[str]]:
    """Postfix virtual alias map source text: ``address  target1, target2`` (comments allowed)."""
    out: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or raw[:1].isspace():
            continue
        key, _, rest = line.partition(" ") if " " in line else line.partition("\t")
        targets = [t.strip() for t in re.split(r"[,\s]+", rest) if t.strip()]
        if targets:
            out[key.lower()] = targets
    return out
