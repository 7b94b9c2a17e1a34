"""The console's 查阅记录 page (bot/console/audit_pages.py): administrators only; the audit log newest first,
filtered by actor, action and local dates, 50 a page; its XLSX download holds the page's rows and is itself
recorded."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.content import load_content
from bot.domain import audit
from models import AuditEntry
from tests.community import seed
from tests.conftest import AppFactory
from tests.console import csrf_of, get, log_in, post
from tests.helpers import services

TEXTS = load_content()


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


async def make(make_client: AppFactory, clock: FixedClock) -> TestClient[Any, Any]:
    client = await make_client()
    await seed(
        services(client).db,
        bind=("YX-001", "YX-002", "YX-003", "YX-004", "YX-007"),
        grid_worker="o-grid",
        admin="o-admin",
    )
    now = clock.now()

    def write(session: Session) -> None:
        for n in range(60):
            audit.record(
                session,
                now - timedelta(hours=n),
                "member:YX-002",
                "view_member",
                f"YX-{n:03d}",
                via="console",
            )
        audit.record(
            session, now - timedelta(days=10), "cli:root", "export_dues_report", None, month="2026-10"
        )

    await services(client).db.run(write)
    return client


async def entries(client: TestClient[Any, Any], action: str) -> list[AuditEntry]:
    async with services(client).db.read() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_only_the_administrator_reads_the_log(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client, clock)
    resp, _ = await get(client, "/console/audit")
    assert (resp.status, resp.headers.get("Location")) == (302, "/console/login")
    resp, _ = await get(client, "/console/audit?format=xlsx")
    assert (resp.status, resp.headers.get("Location")) == (302, "/console/login")
    for openid in ("o-YX-001", "o-YX-002", "o-YX-007", "o-grid"):
        await log_in(client, clock, openid)
        resp, html = await get(client, "/console/audit")
        assert resp.status == 403 and 'href="/console/audit"' not in html, openid
        resp, _ = await get(client, "/console/audit?format=xlsx")
        assert resp.status == 403
        await post(client, "/console/logout", {"_csrf": csrf_of(html)})
    assert await entries(client, "export_audit_log") == []


async def test_the_log_newest_first_filtered_paged_and_exported(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client, clock)
    await log_in(client, clock, "o-admin")
    resp, html = await get(client, "/console/audit")
    assert resp.status == 200 and say("console_nav_audit") in html
    assert say("console_audit_total", total=61, page=1, pages=2) in html
    assert html.index("YX-000") < html.index("YX-001") and "YX-055" not in html  # newest first, 50 a page
    _, html = await get(client, "/console/audit?page=2")
    assert "YX-055" in html and "export_dues_report" in html
    _, html = await get(client, "/console/audit?action=export_dues_report")
    assert say("console_audit_total", total=1, page=1, pages=1) in html and "cli:root" in html
    _, html = await get(client, "/console/audit?actor=cli")
    assert say("console_audit_total", total=1, page=1, pages=1) in html
    day = (clock.now() - timedelta(days=10)).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    _, html = await get(client, f"/console/audit?from={day}&to={day}")
    assert "cli:root" in html and "YX-000" not in html
    resp, html = await get(client, "/console/audit?from=2026-13-01")
    assert resp.status == 400 and say("console_audit_bad_date") in html

    resp = await client.get("/console/audit?actor=cli&format=xlsx")
    assert resp.status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == [say(f"console_audit_col_{c}") for c in ("at", "actor", "action", "scope", "detail")]
    assert [r[1:3] for r in rows[1:]] == [["cli:root", "export_dues_report"]]
    exported = await entries(client, "export_audit_log")
    assert (
        len(exported) == 1 and exported[0].detail["rows"] == 1 and exported[0].detail["filter_actor"] == "cli"
    )
    _, html = await get(client, "/console/audit")
    assert "export_audit_log" in html  # the export is in the log it exported
