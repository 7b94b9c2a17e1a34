"""Every console route walked as nobody and as each role that may log in, checking what each may see: nobody
is sent to the login page, a branch secretary sees their branch and not the other one (dashboard, members,
a member), a committee member their branch's requests, a grid worker no member list, an administrator
everything. The dashboard's numbers are the domain's; opening a member is audited, a refusal is not."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.app import SETTINGS
from bot.clock import FixedClock
from bot.console.app import _percent
from bot.content import load_content
from bot.domain import dues
from models import AuditEntry
from tests.community import BRANCH1, BRANCH2, COMMUNITY, seed
from tests.conftest import AppFactory
from tests.console import csrf_of, get, log_in, login_page, post
from tests.helpers import services

TEXTS = load_content()
MONTH = "2026-11"


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


# Every route of the console, by method and path: a new one must be added here (and to the walk below).
ROUTES = {
    ("GET", "/console"),
    ("GET", "/console/"),
    ("GET", "/console/members"),
    ("GET", "/console/members/{number}"),
    ("GET", "/console/login"),
    ("GET", "/console/login/status"),
    ("POST", "/console/login/password"),
    ("POST", "/console/logout"),
    ("POST", "/console/display"),
    # dashboard charts
    ("GET", "/console/charts/{section}.svg"),
    # announcements
    ("GET", "/console/announcements"),
    ("GET", "/console/announcements/new"),
    ("POST", "/console/announcements/preview"),
    ("POST", "/console/announcements/confirm"),
    ("GET", "/console/announcements/{id}"),
    # requests
    ("GET", "/console/requests"),
    ("GET", "/console/requests/{number}"),
    ("GET", "/console/requests/{number}/photos/{seq}"),
    ("POST", "/console/requests/{number}/take"),
    ("POST", "/console/requests/{number}/progress"),
    ("POST", "/console/requests/{number}/transfer"),
    ("POST", "/console/requests/{number}/complex"),
    ("POST", "/console/requests/{number}/solve"),
    ("POST", "/console/requests/{number}/phone"),
    # theme days
    ("GET", "/console/theme-days"),
    ("GET", "/console/theme-days/{id}"),
    ("GET", "/console/theme-days/{id}/photos/{seq}"),
    # dues
    ("GET", "/console/dues"),
    ("POST", "/console/dues/pay"),
    ("POST", "/console/dues/confirm"),
    ("POST", "/console/dues/return"),
    ("GET", "/console/dues/import"),
    ("POST", "/console/dues/import/check"),
    ("POST", "/console/dues/import/confirm"),
    # mobile
    ("GET", "/console/mobile"),
    ("POST", "/console/mobile/incoming"),
    # imports
    ("GET", "/console/imports"),
    ("POST", "/console/imports/check"),
    ("POST", "/console/imports/confirm"),
    # audit
    ("GET", "/console/audit"),
}


async def make(make_client: AppFactory) -> TestClient[Any, Any]:
    client = await make_client()
    await seed(
        services(client).db,
        bind=("YX-001", "YX-002", "YX-003", "YX-004", "YX-007"),
        grid_worker="o-grid",
        admin="o-admin",
    )
    return client


def console_routes(client: TestClient[Any, Any]) -> set[tuple[str, str]]:
    assert client.app is not None
    found: set[tuple[str, str]] = set()
    for resource in client.app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource) and resource.canonical == "/console":
            for route in resource._app.router.routes():
                info = route.resource.canonical if route.resource is not None else ""
                if route.method in ("GET", "POST") and not info.startswith("/console/static"):
                    found.add((route.method, info))
    return found


async def audits(client: TestClient[Any, Any]) -> list[AuditEntry]:
    async with services(client).db.read() as session:
        return list(
            (await session.scalars(select(AuditEntry).where(AuditEntry.action == "view_member"))).all()
        )


async def test_nobody_is_sent_to_the_login_page(make_client: AppFactory) -> None:
    client = await make(make_client)
    assert console_routes(client) == ROUTES
    for path in (
        "/console/",
        "/console/members",
        "/console/members/YX-004",
        f"/console/?unit={quote(BRANCH1)}",
    ):
        resp, _ = await get(client, path)
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login"), path
    resp, _ = await get(client, "/console")
    assert (resp.status, resp.headers.get("Location")) == (302, "/console/")
    resp, html = await get(client, "/console/login")
    assert resp.status == 200 and say("console_login_heading") in html
    resp = await client.get("/console/login/status")
    assert resp.status == 200 and (await resp.json())["state"] == "waiting"
    token = csrf_of(html)
    resp, _ = await post(client, "/console/logout", {"_csrf": token})
    assert (resp.status, resp.headers["Location"]) == (302, "/console/login")  # nobody to log out
    html = await login_page(client)
    resp, _ = await post(client, "/console/display", {"_csrf": csrf_of(html), "next": "/console/login"})
    assert resp.status == 302
    resp, html = await post(
        client, "/console/login/password", {"_csrf": csrf_of(html), "name": "x", "password": "y"}
    )
    assert resp.status == 401
    assert await audits(client) == []


async def test_a_branch_secretary_sees_their_branch_only(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-002")  # 林晓梅, 第一网格党支部书记

    resp, html = await get(client, "/console/")
    assert resp.status == 200
    assert say("console_dashboard_heading", unit="第一网格党支部", month="2026年11月") in html
    for section in ('id="dues"', 'id="requests"', 'id="theme-days"', 'id="mobile"'):
        assert section in html
    assert "1号楼党小组" in html  # the drill-down to the unit below
    resp, html = await get(client, f"/console/?unit={quote(BRANCH1 + '/1号楼党小组')}&month=2026-10")
    assert resp.status == 200 and "2026年10月" in html
    for other in (BRANCH2, COMMUNITY, ""):
        resp, html = await get(client, f"/console/?unit={quote(other)}")
        assert resp.status == 403 and say("console_forbidden") in html, other
    resp, _ = await get(client, "/console/?month=2026-13")
    assert resp.status == 404

    resp, html = await get(client, "/console/members")
    assert resp.status == 200
    assert "周建国" not in html and "陈志强" not in html and "刘洋" not in html  # other units
    assert "王秀兰" in html and "郑国平" in html
    assert "138****8004" in html and "13800138004" not in html  # masked on the server
    resp, html = await get(client, f"/console/members?q={quote('王')}")
    assert "王秀兰" in html and "郑国平" not in html and "YX-012" not in html

    assert await audits(client) == []
    resp, html = await get(client, "/console/members/YX-004")
    assert resp.status == 200 and say("console_member_heading", name="王秀兰", number="YX-004") in html
    assert "138****8004" in html and "13800138004" not in html
    entries = await audits(client)
    assert [(e.actor, e.scope, e.detail["via"]) for e in entries] == [("member:YX-002", "YX-004", "console")]

    for other in ("YX-012", "YX-003", "YX-001", "YX-999"):
        resp, html = await get(client, f"/console/members/{other}")
        assert resp.status == 404 and say("console_not_found") in html and "王秀兰" not in html
    assert len(await audits(client)) == 1  # refusals read nothing


async def test_the_community_secretary_sees_both_branches(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-001")
    resp, html = await get(client, "/console/")
    assert resp.status == 200 and "第一网格党支部" in html and "第二网格党支部" in html
    resp, html = await get(client, f"/console/?unit={quote(BRANCH2)}")
    assert resp.status == 200
    resp, html = await get(client, "/console/members/YX-012")
    assert resp.status == 200
    resp, _ = await get(client, f"/console/?unit={quote('青禾街道党工委')}")
    assert resp.status == 403


async def test_a_committee_member_sees_their_branchs_requests_and_members(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-007")  # 李文博, 委员 of 第一网格党支部
    resp, html = await get(client, "/console/")
    assert resp.status == 200 and 'id="requests"' in html
    assert 'id="dues"' not in html and 'id="mobile"' not in html  # a secretary's business
    resp, html = await get(client, "/console/members")
    assert resp.status == 200 and "郑国平" in html and "陈志强" not in html
    resp, _ = await get(client, "/console/members/YX-003")
    assert resp.status == 404
    resp, _ = await get(client, f"/console/?unit={quote(BRANCH2)}")
    assert resp.status == 403


async def test_a_grid_worker_has_no_member_list(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-grid")
    resp, html = await get(client, "/console/")
    assert resp.status == 200 and say("console_nothing") in html
    assert 'href="/console/members"' not in html
    for path in ("/console/members", "/console/members/YX-004"):
        resp, html = await get(client, path)
        assert resp.status == 403 and say("console_forbidden") in html
    assert await audits(client) == []


@pytest.mark.parametrize("how", ["chat", "password"])
async def test_an_administrator_sees_everything(make_client: AppFactory, clock: FixedClock, how: str) -> None:
    from bot.domain import console

    client = await make(make_client)
    if how == "chat":
        await log_in(client, clock, "o-admin")
    else:
        now = clock.now()
        await services(client).db.run(
            lambda s: console.set_password(s, "管理员", "correct horse battery", now)
        )
        html = await login_page(client)
        resp, _ = await post(
            client,
            "/console/login/password",
            {"_csrf": csrf_of(html), "name": "管理员", "password": "correct horse battery"},
        )
        assert resp.status == 302
    resp, html = await get(client, "/console/")
    assert resp.status == 200 and say("console_everything") in html and "青禾街道党工委" in html
    for path in (f"/console/?unit={quote(BRANCH2)}", "/console/members", "/console/members/YX-013"):
        resp, _ = await get(client, path)
        assert resp.status == 200, path
    resp, html = await get(client, "/console/members?page=1")
    assert say("console_members_total", total=9, page=1, pages=1) in html
    entries = await audits(client)
    assert len(entries) == 1 and entries[0].scope == "YX-013"
    assert entries[0].actor.startswith("openid:" if how == "chat" else "console-admin:")


async def test_the_dashboard_shows_the_domain_numbers(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-001")
    assert client.app is not None
    settings = client.app[SETTINGS]

    def expected(session: Any) -> dues.Collection:
        start = dues.start_month(session, settings.dues_start_month, settings.timezone)
        return dues.collection(session, COMMUNITY, MONTH, start=start, rounding=settings.dues_rounding)

    found = await services(client).db.run(expected)
    resp, html = await get(client, "/console/")
    assert resp.status == 200
    assert len(found.due) == 9  # every active member of the community owes this month
    assert f"<strong>{_percent(found.rate)}</strong>" in html
    detail = say(
        "console_dues_detail",
        due=len(found.due),
        paid=len(found.paid),
        paid_yuan=f"{found.paid_fen / 100:.2f}",
        due_yuan=f"{found.due_fen / 100:.2f}",
    )
    assert detail in html
    assert say("console_requests_none") in html  # no tickets filed in the seeded community
    assert say("console_mobile_summary", reported=0, total=1) in html  # 李文博 is 流动, not reported yet
    resp, html = await get(client, "/console/members?page=abc")
    assert resp.status == 200 and say("console_members_total", total=9, page=1, pages=1) in html
