"""查阅记录: the audit log (Action.READ_AUDIT, administrators) newest first, filtered by who (a part of the
actor), what (the action) and the local days from/to, 50 a page, and downloaded as XLSX — the download is
itself recorded in the log (bot.console.export)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.console.deps import content, services, settings, user
from bot.console.export import wants_xlsx, xlsx_download
from bot.console.pages import refuse, render
from bot.console.views import _int
from bot.domain import audit
from bot.domain.policy import Action, may
from bot.workbook import Sheet
from models import AuditEntry

PAGE_SIZE = 50
EXPORT_MAX = 20000
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/audit", audit_page, name="audit")


@dataclass(frozen=True, slots=True)
class Row:
    at: str
    actor: str
    action: str
    scope: str
    detail: str

    def cells(self) -> list[str]:
        return [self.at, self.actor, self.action, self.scope, self.detail]


def _day(text: str) -> date | None:
    if not _DAY.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _detail(detail: dict[str, Any] | None) -> str:
    return "；".join(f"{k}={v}" for k, v in sorted((detail or {}).items()))


async def audit_page(request: web.Request) -> web.StreamResponse:
    if not may(user(request).identity, Action.READ_AUDIT):
        return await refuse(request, 403, "console_forbidden")
    q = request.query
    actor, action = q.get("actor", "").strip()[:100], q.get("action", "").strip()[:50]
    first_text, last_text = q.get("from", "").strip(), q.get("to", "").strip()
    zone = ZoneInfo(settings(request).timezone)
    first, last = _day(first_text), _day(last_text)
    bad = (first_text and first is None) or (last_text and last is None)
    since = datetime.combine(first, time(0), zone) if first else None
    until = datetime.combine(last + timedelta(days=1), time(0), zone) if last else None
    xlsx = wants_xlsx(request)
    page_no = _int(q.get("page"))
    found: list[AuditEntry] = []
    total = 0
    if not bad:
        found, total = await services(request).db.run(
            lambda s: audit.search(
                s,
                actor=actor,
                action=action,
                since=since,
                until=until,
                page=1 if xlsx else page_no,
                page_size=EXPORT_MAX if xlsx else PAGE_SIZE,
            )
        )
    rows = [
        Row(f"{e.at.astimezone(zone):%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.scope or "", _detail(e.detail))
        for e in found
    ]
    say = content(request).text
    if xlsx:
        header = [say(f"console_audit_col_{c}") for c in ("at", "actor", "action", "scope", "detail")]
        return await xlsx_download(
            request,
            filename=content(request).text("console_audit_filename"),
            sheet=Sheet(say("console_audit_sheet"), header, [r.cells() for r in rows]),
            action="export_audit_log",
            scope=None,
            filter_actor=actor,
            filter_action=action,
            since=first_text,
            until=last_text,
        )
    known = await services(request).db.run(audit.actions)
    query = {"actor": actor, "action": action, "from": first_text, "to": last_text}
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return await render(
        request,
        "audit_page.html",
        status=400 if bad else 200,
        rows=rows,
        total=total,
        page_no=min(page_no, pages),
        pages=pages,
        actions=known,
        q=query,
        query=urlencode({k: v for k, v in query.items() if v}),
        bad=bad,
    )
