"""Reports (monthly or yearly, per unit, HTML or CSV) and the audit trail of the console's actions.

A report is `mailmon report` run as a process of its own: a yearly report reads a year of findings
and evaluates every mailbox, seconds of CPU that would otherwise hold the filter's process. One
runs at a time; an IT contact may ask only for their own units, an administrator for any or all.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from monitor.web.auth import Principal, member
from monitor.web.state import web_state

log = logging.getLogger("mailmon.web")

PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]))?$")
UNIT = re.compile(r"^[\w.-]{1,100}$")
REPORT_TIMEOUT_SECONDS = 600
# The report's own styles are inline; nothing else may load or run.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


@member
async def reports(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    now = datetime.now(ZoneInfo(state.config().organization.timezone))
    names = await state.read(lambda c: c.unit_names(principal.scope))
    months = [f"{now.year}-{m:02d}" for m in range(now.month, 0, -1)]
    return state.page(request, "reports.html.j2", names=names, months=months, years=[now.year, now.year - 1])


@member
async def report_download(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    period = request.query_params.get("period", "")
    unit = request.query_params.get("unit", "")
    fmt = request.query_params.get("format", "html")
    if not PERIOD.match(period) or fmt not in ("html", "csv") or (unit and not UNIT.match(unit)):
        return state.page(request, "error.html.j2", status=400, reason="report")
    if principal.units is not None and unit not in principal.units:
        return state.page(request, "error.html.j2", status=404, reason="notfound")
    args = [sys.executable, "-m", "monitor.cli", "--config", str(state.config_path), "report", "--period", period]
    args += ["--format", fmt] + (["--unit", unit] if unit else [])
    async with state.reports:
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), REPORT_TIMEOUT_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return state.page(request, "error.html.j2", status=504, reason="report-failed")
    if proc.returncode != 0:
        log.error("report %s %s failed: %s", period, unit or "(all)", err.decode("utf-8", "replace")[-500:])
        return state.page(request, "error.html.j2", status=500, reason="report-failed")
    name = f"mailmon-report-{period}-{unit or 'all'}.{fmt}"
    if fmt == "csv":
        return Response(
            out, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )
    return Response(
        out,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Content-Security-Policy": REPORT_CSP},
    )


@member
async def audit(request: Request, principal: Principal) -> Response:
    state = web_state(request)
    text = request.query_params.get("before", "")
    before = int(text) if text.isdigit() and len(text) < 19 else None
    rows = await state.records(lambda r: r.actions_page(principal.scope, before=before))
    return state.page(request, "audit.html.j2", rows=rows, more=rows[-1]["id"] if len(rows) == 50 else None)
