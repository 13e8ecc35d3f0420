"""What every console request shares: the configuration in force, the console's own store connection,
the quarantine, the dependencies' health, and the templates (Jinja2, autoescaped)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from monitor.config import Config
from monitor.smtp.quarantine import Quarantine
from monitor.store import AsyncStore
from monitor.store.console import Console
from monitor.store.console_sessions import ConsoleRecords

T = TypeVar("T")

# dependency → up (True), down (False), or not heard of yet (None)
Health = Callable[[], dict[str, bool | None]]


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(files("monitor.web") / "templates")),
        autoescape=True,  # every value is escaped unless it is Markup made here
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = _local_time
    env.filters["size"] = _size
    return env


def _local_time(stamp: str | None, zone: str = "Asia/Ho_Chi_Minh") -> str:
    if not stamp:
        return "—"
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(ZoneInfo(zone)).strftime("%d/%m/%Y %H:%M")


def _size(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{n} B"


@dataclass
class WebState:
    config: Callable[[], Config]
    config_path: Path  # for the reports, which run `mailmon report` as a process of its own
    store: AsyncStore
    quarantine: Quarantine
    health: Health
    templates: jinja2.Environment = field(default_factory=_templates)
    # One report at a time: a yearly report reads a year of findings on a connection of its own.
    reports: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    # One release or delete at a time: a message clicked twice (or by two people) is sent once.
    actions: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def read(self, fn: Callable[[Console], T]) -> T:
        """Run ``fn`` with the console's queries on its own store thread."""
        return await self.store.call(lambda s: fn(s.console))

    async def records(self, fn: Callable[[ConsoleRecords], T]) -> T:
        """Run ``fn`` with the sessions, sign-ins and audit trail on the console's store thread."""
        return await self.store.call(lambda s: fn(s.console_sessions))

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        principal = request.scope.get("mailmon.principal")
        body = self.templates.get_template(template).render(
            {
                "principal": principal,
                "csrf": request.scope.get("mailmon.csrf", ""),
                "path": request.url.path,
                "organization": self.config().organization.name,
                "zone": self.config().organization.timezone,
                **context,
            }
        )
        return HTMLResponse(body, status_code=status)


def web_state(request: Request) -> WebState:
    state = request.app.state.console
    assert isinstance(state, WebState)
    return state
