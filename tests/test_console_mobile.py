"""The console's 流动党员: the mobile members of the user's MANAGE_MOBILE scope with this month's report-in
(the district and words chat's list shows, never a coordinate), the 流入 entries waiting for confirmation
(phones masked), the listing audited like chat's, the XLSX audited; each role's view and the refusals."""

from __future__ import annotations

import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.content import load_content
from bot.domain.mobile import report_in, set_consent, submit_incoming
from bot.domain.privacy import Vault
from models import AuditEntry, Binding, Member, MobileReport, Notice, OutboxRow
from tests.community import BRANCH1, BRANCH2, seed
from tests.conftest import DATA_KEY, T0, AppFactory
from tests.console import csrf_of, get, log_in, post
from tests.helpers import services

TEXTS = load_content()
ZONE = ZoneInfo("Asia/Shanghai")


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


async def make(make_client: AppFactory) -> TestClient[Any, Any]:
    """李文博 (第一网格, 流动 on the roster) reported in November from 苏州市工业园区 with consent to the
    district (his coordinates kept too); 刘洋 (第二网格) went to 杭州 and has not reported; a 流入 guest
    waits for 第一网格's confirmation."""
    client = await make_client()
    community = await seed(
        services(client).db,
        bind=("YX-001", "YX-002", "YX-003", "YX-007"),
        grid_worker="o-grid",
        admin="o-admin",
    )
    ids = community.ids

    def write(session: Session) -> None:
        liu = session.get(Member, ids["YX-013"])
        assert liu is not None
        liu.mobile_destination = "浙江省杭州市"
        set_consent(session, ids["YX-007"], T0, location=True, precise=True)
        report_in(
            session, ids["YX-007"], T0, ZONE, text="在苏州工作，参加了当地的组织生活",
            label="江苏省苏州市工业园区星湖街328号", latitude=31.3, longitude=120.7,
        )  # fmt: skip
        submit_incoming(
            session, "o-guest", name="张新来", phone_enc=Vault(DATA_KEY).encrypt_phone("13700137000"),
            home_org="某某县某某镇党委", place="2号楼3单元", unit_id=community.units[BRANCH1], now=T0,
        )  # fmt: skip

    await services(client).db.run(write)
    return client


async def audits(client: TestClient[Any, Any], action: str) -> list[AuditEntry]:
    async with services(client).db.read() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_nobody_is_sent_to_the_login_page(make_client: AppFactory) -> None:
    client = await make(make_client)
    for path in ("/console/mobile", "/console/mobile?format=xlsx"):
        resp, _ = await get(client, path)
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login"), path


async def test_a_branch_secretary_sees_their_mobile_members(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-002")
    resp, html = await get(client, "/console/mobile")
    assert resp.status == 200
    assert say("console_mobile_page_heading", unit="第一网格党支部", month="2026年11月") in html
    assert "李文博" in html and "刘洋" not in html
    assert say("console_mobile_summary", reported=1, total=1) in html
    assert "江苏省苏州市工业园区" in html and "星湖街" not in html and "31.3" not in html  # the district only
    assert "张新来" in html and "137****7000" in html and "13700137000" not in html
    assert say("console_mobile_in_heading", pending=1) in html
    entries = await audits(client, "list_mobile_members")
    assert [(e.scope, e.detail["members"], e.detail["via"]) for e in entries] == [
        (BRANCH1, ["YX-007"], "console")
    ]
    resp, html = await get(client, "/console/mobile?month=2026-10")
    assert resp.status == 200 and say("console_mobile_summary", reported=0, total=1) in html
    assert say("console_mobile_missing", count=1, names="李文博") in html
    resp, _ = await get(client, "/console/mobile?month=2026-13")
    assert resp.status == 404


async def test_the_other_branch_and_the_community(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-003")
    resp, html = await get(client, "/console/mobile")
    assert resp.status == 200 and "刘洋" in html and "李文博" not in html and "张新来" not in html
    assert say("console_mobile_summary", reported=0, total=1) in html and "浙江省杭州市" in html
    assert say("console_mobile_in_none") in html


@pytest.mark.parametrize("openid", ["o-YX-001", "o-admin"])
async def test_the_community_secretary_and_the_admin_see_both(
    make_client: AppFactory, clock: FixedClock, openid: str
) -> None:
    client = await make(make_client)
    await log_in(client, clock, openid)
    resp, html = await get(client, "/console/mobile")
    assert resp.status == 200 and "刘洋" in html and "李文博" in html and "张新来" in html
    assert say("console_mobile_summary", reported=1, total=2) in html


@pytest.mark.parametrize("openid", ["o-YX-007", "o-grid"])  # a 委员, a grid worker
async def test_those_who_manage_no_mobile_members_are_refused(
    make_client: AppFactory, clock: FixedClock, openid: str
) -> None:
    client = await make(make_client)
    await log_in(client, clock, openid)
    resp, html = await get(client, "/console/")
    assert 'href="/console/mobile"' not in html
    for path in ("/console/mobile", "/console/mobile?format=xlsx"):
        resp, html = await get(client, path)
        assert resp.status == 403 and say("console_forbidden") in html, path
    assert await audits(client, "list_mobile_members") == []
    assert await audits(client, "export_mobile_members") == []


async def test_the_export_is_audited_without_phones_or_coordinates(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-001")
    resp = await client.get("/console/mobile?format=xlsx")
    assert resp.status == 200
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    rows = [[str(c or "") for c in row] for row in sheet.iter_rows(values_only=True)]
    assert rows[0][:2] == [say("console_mobile_col_number"), say("console_mobile_col_name")]
    assert [(r[0], r[1], r[4]) for r in rows[1:]] == [
        ("YX-007", "李文博", say("console_mobile_reported")),
        ("YX-013", "刘洋", say("console_mobile_not_reported")),
    ]
    flat = " ".join(" ".join(r) for r in rows)
    assert "31.3" not in flat and "星湖街" not in flat and "1380013800" not in flat
    entries = await audits(client, "export_mobile_members")
    assert [(e.scope, e.detail["rows"], e.detail["month"]) for e in entries] == [
        ("青禾街道党工委/银杏社区党委", 2, "2026-11")
    ]
    assert await audits(client, "list_mobile_members") == []  # the export is its own entry
    async with services(client).db.read() as session:
        kept = await session.scalar(select(MobileReport.latitude))
    assert kept == 31.3  # kept by consent, never shown
    assert BRANCH2  # the other branch's 刘洋 is in the community's rows above


async def test_a_secretary_confirms_or_returns_an_incoming_registration_on_the_page(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-002")  # 林晓梅, 第一网格: 张新来 waits for her
    resp, html = await get(client, "/console/mobile")
    assert 'action="/console/mobile/incoming"' in html
    # 退回 needs a reason; without the page's token nothing happens.
    resp, _ = await post(client, "/console/mobile/incoming", {"name": "张新来", "decision": "return"})
    assert resp.status == 403
    token = csrf_of(html)
    resp, _ = await post(
        client, "/console/mobile/incoming", {"_csrf": token, "name": "张新来", "decision": "return"}
    )
    resp, html = await get(client, resp.headers["Location"])
    assert say("console_mobile_incoming_missing", name="张新来") in html
    # Confirmed: chat's answer, chat's audit entry, and the guest is a member bound to their WeChat.
    resp, _ = await post(
        client, "/console/mobile/incoming", {"_csrf": token, "name": "张新来", "decision": "confirm"}
    )
    assert resp.status == 303
    resp, html = await get(client, resp.headers["Location"])
    assert say("mobile_incoming_confirmed", name="张新来") in html
    assert say("console_mobile_in_heading", pending=0) in html
    assert [e.scope for e in await audits(client, "confirm_incoming")] == [BRANCH1]
    async with services(client).db.read() as session:
        guest = await session.scalar(select(Member).where(Member.name == "张新来"))
        binding = await session.get(Binding, "o-guest")
    assert (
        guest is not None and guest.kind == "流入" and binding is not None and binding.member_id == guest.id
    )
    async with services(client).db.read() as session:  # told as in chat (the outbound engine sends it)
        notice = await session.scalar(select(Notice).where(Notice.author.like("mobile_incoming_confirmed:%")))
        rows = (await session.scalars(select(OutboxRow).where(OutboxRow.member_id == guest.id))).all()
    assert notice is not None and notice.text == say("mobile_incoming_confirmed_notice") and len(rows) == 1
    # Again: nothing waits any more (chat's words).
    resp, _ = await post(
        client, "/console/mobile/incoming", {"_csrf": token, "name": "张新来", "decision": "confirm"}
    )
    resp, html = await get(client, resp.headers["Location"])
    assert say("mobile_incoming_none", name="张新来") in html


async def test_another_branch_cannot_decide_an_incoming_registration(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-003")  # 陈志强, 第二网格: not his
    resp, html = await get(client, "/console/mobile")
    token = csrf_of(html)
    resp, _ = await post(
        client,
        "/console/mobile/incoming",
        {"_csrf": token, "name": "张新来", "decision": "return", "reason": "不是本支部"},
    )
    resp, html = await get(client, resp.headers["Location"])
    assert say("mobile_incoming_none", name="张新来") in html
    assert await audits(client, "return_incoming") == []
    resp, _ = await post(client, "/console/logout", {"_csrf": token})
    await log_in(client, clock, "o-grid")  # a grid worker manages no mobile members
    resp, html = await get(client, "/console/mobile")
    resp, _ = await post(client, "/console/mobile/incoming", {"_csrf": csrf_of(html), "name": "张新来"})
    assert resp.status == 403
