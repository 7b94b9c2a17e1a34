"""Every console list downloads as XLSX (`?format=xlsx` on its page): built by bot.workbook from the same
rows the page shows, and recorded in the audit log (who, what, which unit, how many rows) in the same
request, before the file leaves."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.console.deps import clock, services, user
from bot.domain import audit
from bot.workbook import Sheet, workbook_bytes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def wants_xlsx(request: web.Request) -> bool:
    return request.query.get("format") == "xlsx"


async def xlsx_download(
    request: web.Request, *, filename: str, sheet: Sheet, action: str, scope: str | None, **detail: Any
) -> web.Response:
    """The sheet as a download, audited as `action` (e.g. "export_dues_ledger") over `scope` (a unit
    path, "" for everything)."""
    who, now = user(request), clock(request).now()
    body = workbook_bytes(sheet)
    rows = len(sheet.cells)
    await services(request).db.run(
        lambda session: audit.record(
            session, now, who.actor, action, scope, via="console", rows=rows, **detail
        )
    )
    return web.Response(
        body=body,
        content_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )
