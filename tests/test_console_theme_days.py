"""The console's 主题党日 / 组织生活: the month's events of the user's KEEP_RECORDS scope with their answers,
attendance and record; one event (an audited read) with its attendance list, record and a stored photo served
through the console; the month's XLSX (the rows of `partybot themeday report`, audited); each role's view
and the refusals (403 for those who keep no records, 404 outside the scope)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.content import load_content
from bot.domain.attendance import record_attendance
from bot.domain.records import mark_stored, photo_path, save_record
from bot.domain.theme_day import invite, load_units, members_of
from models import AuditEntry, Event, EventPhoto, Invitation
from tests.community import BRANCH1, BRANCH2, Community, seed
from tests.conftest import T0, AppFactory
from tests.console import get, log_in
from tests.helpers import services

TEXTS = load_content()
BJ = timedelta(hours=8)
RECORD = "11月20日上午，支部在党群服务中心集中学习党章，5名党员参加，3人交流发言。"
JPEG = b"\xff\xd8\xff\xe0 a photo"


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


def bj(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - BJ


def _event(session: Session, community: Community, path: str, day: int, topic: str) -> Event:
    unit = community.units[path]
    event = Event(
        key=f"theme_day:{unit}:2026-11",
        kind="theme_day",
        unit_id=unit,
        month="2026-11",
        starts_at=bj(day, 9),
        topic=topic,
        text="学习材料",
        place="党群服务中心",
        created_at=T0,
        updated_at=T0,
    )
    session.add(event)
    session.flush()
    invite(session, event, members_of(session, load_units(session), unit), T0)
    return event


async def make(make_client: AppFactory, tmp_path: Path) -> tuple[TestClient[Any, Any], int, int]:
    """November: 第一网格党支部's theme day (two present, 李文博 on leave, a record with a stored and a
    pending photo), 第二网格党支部's (nobody answered yet, no record)."""
    client = await make_client(data_dir=tmp_path)
    community = await seed(
        services(client).db,
        bind=("YX-001", "YX-002", "YX-003", "YX-007"),
        grid_worker="o-grid",
        admin="o-admin",
    )
    ids = community.ids

    def write(session: Session) -> tuple[int, int]:
        first = _event(session, community, BRANCH1, 20, "学习党章")
        second = _event(session, community, BRANCH2, 25, "垃圾分类志愿服务")
        record_attendance(session, first, ids["YX-002"], "code", bj(20, 8, 50), None)
        record_attendance(session, first, ids["YX-004"], "manual", bj(20, 9, 40), ids["YX-002"])
        for number, answer, reason in (("YX-007", "leave", "外出"), ("YX-009", "yes", None)):
            row = session.scalars(
                select(Invitation).where(Invitation.event_id == first.id, Invitation.member_id == ids[number])
            ).one()
            row.answer, row.reason = answer, reason
        save_record(session, first.id, ids["YX-002"], RECORD, [("M1", T0), ("M2", T0)], T0)
        photo = session.scalars(
            select(EventPhoto).where(EventPhoto.event_id == first.id, EventPhoto.seq == 1)
        ).one()
        mark_stored(session, photo.id, photo_path(first.id, 1), T0)
        return first.id, second.id

    first, second = await services(client).db.run(write)
    (tmp_path / photo_path(first, 1)).parent.mkdir(parents=True)
    (tmp_path / photo_path(first, 1)).write_bytes(JPEG)
    return client, first, second


async def audits(client: TestClient[Any, Any], action: str) -> list[AuditEntry]:
    async with services(client).db.read() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_nobody_is_sent_to_the_login_page(make_client: AppFactory, tmp_path: Path) -> None:
    client, first, _ = await make(make_client, tmp_path)
    for path in (
        "/console/theme-days",
        f"/console/theme-days/{first}",
        f"/console/theme-days/{first}/photos/1",
    ):
        resp, _ = await get(client, path)
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login"), path


async def test_a_branch_secretary_sees_their_month(
    make_client: AppFactory, clock: FixedClock, tmp_path: Path
) -> None:
    client, first, second = await make(make_client, tmp_path)
    await log_in(client, clock, "o-YX-002")
    resp, html = await get(client, "/console/theme-days")
    assert resp.status == 200
    assert say("console_theme_days_heading", unit="第一网格党支部", month="2026年11月") in html
    assert "学习党章" in html and "垃圾分类志愿服务" not in html
    assert say("console_theme_days_signed", present=2, invited=5, rate="40%") in html
    assert say("console_theme_days_people", count=1, names="李文博") in html  # on leave
    assert say("console_theme_days_people", count=1, names="郑国平") in html  # answered yes
    assert say("console_theme_days_record_kept", photos=2) in html
    assert "138" not in html  # no phones
    resp, html = await get(client, "/console/theme-days?month=2026-10")
    assert resp.status == 200 and say("console_theme_days_nothing") in html
    resp, _ = await get(client, "/console/theme-days?month=2026-13")
    assert resp.status == 404

    assert await audits(client, "view_theme_day") == []
    resp, html = await get(client, f"/console/theme-days/{first}")
    assert resp.status == 200 and RECORD in html
    assert "外出" in html and "签到码" in html and "补签" in html and "缺席" in html
    assert f'src="/console/theme-days/{first}/photos/1"' in html
    assert say("cli_records_photo_pending", seq=2) in html
    assert [(e.scope, e.detail["event"]) for e in await audits(client, "view_theme_day")] == [
        (BRANCH1, first)
    ]
    resp = await client.get(f"/console/theme-days/{first}/photos/1")
    assert resp.status == 200 and await resp.read() == JPEG
    for path in (f"{second}", f"{second}/photos/1", f"{first}/photos/2", "99999", "abc"):
        resp, html = await get(client, f"/console/theme-days/{path}")
        assert resp.status == 404 and say("console_not_found") in html, path
    assert len(await audits(client, "view_theme_day")) == 1  # refusals read nothing


async def test_the_community_secretary_and_the_admin_see_both(
    make_client: AppFactory, clock: FixedClock, tmp_path: Path
) -> None:
    client, _, second = await make(make_client, tmp_path)
    await log_in(client, clock, "o-YX-001")
    resp, html = await get(client, "/console/theme-days")
    assert resp.status == 200 and "学习党章" in html and "垃圾分类志愿服务" in html
    # 第二网格党支部: nobody answered yet.
    assert say("console_theme_days_people", count=3, names="陈志强、王秀兰、刘洋") in html
    assert say("console_theme_days_record_missing") in html
    resp, _ = await get(client, f"/console/theme-days/{second}")
    assert resp.status == 200


async def test_the_admin_sees_everything(make_client: AppFactory, clock: FixedClock, tmp_path: Path) -> None:
    client, first, second = await make(make_client, tmp_path)
    await log_in(client, clock, "o-admin")
    resp, html = await get(client, "/console/theme-days")
    assert resp.status == 200 and say("console_everything") in html
    assert "学习党章" in html and "垃圾分类志愿服务" in html
    for event in (first, second):
        resp, _ = await get(client, f"/console/theme-days/{event}")
        assert resp.status == 200


@pytest.mark.parametrize("openid", ["o-YX-007", "o-grid"])  # a 委员, a grid worker
async def test_those_who_keep_no_records_are_refused(
    make_client: AppFactory, clock: FixedClock, tmp_path: Path, openid: str
) -> None:
    client, first, _ = await make(make_client, tmp_path)
    await log_in(client, clock, openid)
    resp, html = await get(client, "/console/")
    assert 'href="/console/theme-days"' not in html
    for path in (
        "/console/theme-days",
        f"/console/theme-days/{first}",
        f"/console/theme-days/{first}/photos/1",
    ):
        resp, html = await get(client, path)
        assert resp.status == 403 and say("console_forbidden") in html, (openid, path)
    resp, _ = await get(client, "/console/theme-days?format=xlsx")
    assert resp.status == 403
    assert await audits(client, "view_theme_day") == [] and await audits(client, "export_theme_days") == []


async def test_the_months_export_is_the_reports_rows_and_audited(
    make_client: AppFactory, clock: FixedClock, tmp_path: Path
) -> None:
    client, first, _ = await make(make_client, tmp_path)
    await log_in(client, clock, "o-YX-002")
    resp = await client.get("/console/theme-days?month=2026-11&format=xlsx")
    assert resp.status == 200
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == TEXTS.texts["cli_records_event_columns"]
    assert len(rows) == 2 and rows[1][:11] == [
        "2026-11-20", "09:00", "第一网格党支部", "主题党日", "学习党章", "党群服务中心", 5, 2, 1, 2, "40%",
    ]  # fmt: skip
    assert rows[1][12] == RECORD and photo_path(first, 1) in rows[1][13]
    resp = await client.get("/console/theme-days?month=2026-11&format=xlsx&sheet=people")
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    people = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert people[0] == TEXTS.texts["cli_records_people_columns"]
    assert [row[5] for row in people[1:]] == ["林晓梅", "王秀兰", "李文博", "孙丽娟", "郑国平"]
    entries = await audits(client, "export_theme_days")
    assert [(e.scope, e.detail["rows"], e.detail["part"]) for e in entries] == [
        (BRANCH1, 1, "events"),
        (BRANCH1, 5, "people"),
    ]
