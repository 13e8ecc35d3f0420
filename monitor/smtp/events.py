"""What the filter reports as it works: a small interface the service binds to the metrics.

The SMTP side never imports the exporters; ``mailmon run`` passes an object with these methods
(exporters' ``Metrics``), and tests or ``mailmon filter`` alone may pass ``NO_EVENTS``.
"""

from __future__ import annotations

from typing import Protocol


class FilterEvents(Protocol):
    def message_filtered(self, direction: str, verdict: str, seconds: float, size_bytes: int) -> None:
        """A message was decided (delivered, quarantined, rejected or held)."""

    def finding(self, rule: str, action: str, unit: str | None = None) -> None:
        """A rule found something in a message; ``unit`` is the directory unit of the first mailbox it
        is about (monitor/smtp/records.py), None when no unit is known."""

    def filter_fail_closed(self, reason: str) -> None:
        """A message was answered 451 so Postfix keeps it; ``reason`` says what failed."""

    def dependency_up(self, dependency: str, up: bool) -> None:
        """The last call to a dependency (clamd, rspamd, reinject) worked or failed (a failure is counted)."""

    def spam_unscored(self, outcome: str) -> None:
        """rspamd could not score a message; ``outcome`` is "passed" (fail_open) or "deferred" (451)."""


class _NoEvents:
    def message_filtered(self, direction: str, verdict: str, seconds: float, size_bytes: int) -> None:
        pass

    def finding(self, rule: str, action: str, unit: str | None = None) -> None:
        pass

    def filter_fail_closed(self, reason: str) -> None:
        pass

    def dependency_up(self, dependency: str, up: bool) -> None:
        pass

    def spam_unscored(self, outcome: str) -> None:
        pass


NO_EVENTS: FilterEvents = _NoEvents()
