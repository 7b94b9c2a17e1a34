"""组织生活纪实 (纪实: text and up to nine photos), the photos' download within WeChat's 3 days (job
record_photos), the export `partybot themeday record` (text and xlsx, audited), and 发起活动 (a meeting of
三会一课 called in numbered steps, its notice through the outbound engine) — all through the webhook, with a
fixed clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.app import CONTENT, GATEWAY, SETTINGS
from bot.cli import main
from bot.clock import FixedClock
from bot.domain.attendance import record_attendance
from bot.domain.records import mark_stored, photo_path, save_record
from bot.domain.theme_day import invite, load_units, members_of
from models import AuditEntry, Event, EventPhoto, EventRecord, Invitation, Notice, OutboxRow
from models.db import Database
from scheduler.jobs import JobDeps, job_named
from tests.community import BRANCH1, BRANCH2, Community, seed
from tests.conftest import DATA_KEY, T0, Stack, StackFactory
from tests.helpers import services
from tests.wechat import Result, ThroughFake

BJ = timedelta(hours=8)
SECRETARY = "o-YX-002"  # 林晓梅, 第一网格党支部书记
EVENT_COLUMNS = "日期 时间 组织 类型 主题 地点 应到 实到 请假 缺席 参加率 纪实 纪实内容 照片".split()  # noqa: SIM905
RECORD_TEXT = "11月20日上午，支部在党群服务中心集中学习党章，5名党员参加，3人交流发言。"


def bj(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Beijing wall-clock moment as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - BJ


@pytest.fixture
async def stack(make_stack: StackFactory, tmp_path: Path) -> Stack:
    return await make_stack(data_dir=tmp_path / "data")


def theme_day(session: Session, community: Community, now: datetime) -> int:
    """第一网格党支部's theme day of November (the 20th, 09:00; passed at T0), its members invited."""
    unit = community.units[BRANCH1]
    event = Event(
        key=f"theme_day:{unit}:2026-11",
        kind="theme_day",
        unit_id=unit,
        month="2026-11",
        starts_at=bj(2026, 11, 20, 9),
        topic="学习党章",
        text="学习党章第一章。",
        place="党群服务中心",
        created_at=now,
        updated_at=now,
    )
    session.add(event)
    session.flush()
    invite(session, event, members_of(session, load_units(session), unit), now)
    return event.id


async def setup(stack: Stack, *bound: str) -> tuple[Community, int]:
    db = services(stack.client).db
    community = await seed(db, bind=("YX-002", "YX-003", "YX-007", "YX-009", *bound))
    event_id = await db.run(lambda s: theme_day(s, community, T0))
    return community, event_id


async def photo(user: ThroughFake) -> Result:
    return await user._act(type="image")


def deps(stack: Stack) -> JobDeps:
    app = stack.client.app
    assert app is not None
    return JobDeps(services(stack.client).db, app[SETTINGS], app[CONTENT], app[GATEWAY])


async def photos_of(stack: Stack, event_id: int) -> list[EventPhoto]:
    async with services(stack.client).db.read() as session:
        found = await session.scalars(
            select(EventPhoto).where(EventPhoto.event_id == event_id).order_by(EventPhoto.seq)
        )
        return list(found.all())


# --- 纪实 ----------------------------------------------------------------------------------------------


async def test_a_record_with_text_and_photos_then_more_photos_up_to_nine(stack: Stack) -> None:
    _, event_id = await setup(stack)
    secretary = ThroughFake(stack, SECRETARY)
    ask = (await secretary.send("纪实")).text
    assert ask.startswith(
        "保存组织生活纪实：第一网格党支部11月20日（星期五）09:00的主题党日（主题：学习党章）。\n第1步："
    )
    assert (await secretary.send("学习了")).text.startswith("文字记录请写5到2000个字")
    assert (await photo(secretary)).text == "请先发送文字记录，再发照片。"
    # A record's text that says 主题党日 stays in the conversation (the records router is ahead of theme_day).
    assert (await secretary.send(RECORD_TEXT + "主题党日")).text.startswith(
        "已记下文字。第2步：请发送活动照片，一张一张发，还可以发9张。"
    )
    assert (await photo(secretary)).text == "已收到第1张照片，还可以发8张，发完回复“完成”"
    assert (await photo(secretary)).text == "已收到第2张照片，还可以发7张，发完回复“完成”"
    assert (await photo(secretary)).text == "已收到第3张照片，还可以发6张，发完回复“完成”"
    assert (
        await secretary.send("好看吗")
    ).text == "请发送照片（一张一张发），发完回复“完成”。已收到3张，还可以发6张。"
    saved = (await secretary.send("完成")).text
    assert saved.startswith("纪实已保存：第一网格党支部11月20日（星期五）09:00的主题党日（主题：学习党章）。")
    assert f"文字{len(RECORD_TEXT) + 4}字，照片3张。照片会自动存入档案。" in saved

    kept = await photos_of(stack, event_id)
    assert [(p.seq, p.status, p.path) for p in kept] == [
        (1, "pending", None),
        (2, "pending", None),
        (3, "pending", None),
    ]
    assert all(p.media_id in stack.fake.media for p in kept)
    async with services(stack.client).db.read() as session:
        record = await session.scalar(select(EventRecord).where(EventRecord.event_id == event_id))
    assert record is not None and record.text == RECORD_TEXT + "主题党日"

    # Again: the record is shown, with the choice of writing the text again or adding photos.
    again = (await secretary.send("纪实")).text
    assert "已有纪实：\n" + RECORD_TEXT[:20] in again and "照片3张。" in again and "2 补充照片" in again
    assert (await secretary.send("3")).text == "请回复1重写文字，或回复2补充照片；回复0返回菜单。"
    assert (await secretary.send("2")).text.startswith("请发送要补充的照片，一张一张发，还可以发6张。")
    for n in range(4, 9):
        assert (await photo(secretary)).text == f"已收到第{n}张照片，还可以发{9 - n}张，发完回复“完成”"
    assert (await photo(secretary)).text == "已收到第9张照片，照片已满9张。回复“完成”保存纪实。"
    tenth = (await photo(secretary)).text
    assert tenth == "这张照片没有保存：每次活动最多保存9张照片，已经有9张了。请回复“完成”保存纪实。"
    assert "照片9张" in (await secretary.send("完成")).text
    assert [p.seq for p in await photos_of(stack, event_id)] == list(range(1, 10))

    # Full: writing the text again still works; no more photos.
    await secretary.send("纪实")
    assert (await secretary.send("2")).text.startswith("这次活动已有9张照片，不能再补充了。")
    assert (await secretary.send("1")).text.startswith("保存组织生活纪实：")
    assert (await secretary.send("重写：" + RECORD_TEXT)).text.startswith("已记下文字。这次活动已有9张照片")
    assert (await photo(secretary)).text.startswith("这张照片没有保存")
    assert "照片9张。\n" in (await secretary.send("完成")).text
    async with services(stack.client).db.read() as session:
        record = await session.scalar(select(EventRecord).where(EventRecord.event_id == event_id))
        count = await session.scalar(select(func.count()).select_from(EventPhoto))
    assert record is not None and record.text == "重写：" + RECORD_TEXT and count == 9


async def test_only_a_secretary_keeps_records_or_calls_meetings(stack: Stack) -> None:
    await setup(stack)
    for openid in ("o-YX-009", "o-YX-007", "o-resident"):  # a member, a 委员, someone not bound
        user = ThroughFake(stack, openid)
        assert (await user.send("纪实")).text.startswith("纪实由支部书记、副书记保存。")
        assert (await user.send("发起活动")).text == "发起活动（三会一课）由支部书记、副书记操作。"
    # A secretary whose branch has had no event yet.
    none = (await ThroughFake(stack, "o-YX-003").send("纪实")).text
    assert none.startswith("您的组织最近还没有已开始的活动，活动开始后才能保存纪实。")
    async with services(stack.client).db.read() as session:
        assert await session.scalar(select(func.count()).select_from(EventRecord)) == 0


# --- the photos' download ------------------------------------------------------------------------------


async def test_the_photo_job_downloads_within_three_days_and_marks_the_rest_expired(
    stack: Stack, clock: FixedClock, tmp_path: Path
) -> None:
    _, event_id = await setup(stack)
    secretary = ThroughFake(stack, SECRETARY)
    await secretary.send("纪实")
    await secretary.send(RECORD_TEXT)
    for _ in range(3):
        await photo(secretary)
    await secretary.send("完成")
    job = job_named("record_photos")
    assert job.cron == {"minute": "*/10"}

    clock.advance(600)
    assert await job.run(deps(stack), clock.now()) == "stored 3, expired 0, waiting 0"
    folder = tmp_path / "data" / "records" / str(event_id)
    kept = await photos_of(stack, event_id)
    for p in kept:
        assert (p.status, p.path, p.stored_at) == ("stored", f"records/{event_id}/{p.seq}.jpg", clock.now())
        assert (folder / f"{p.seq}.jpg").read_bytes() == stack.fake.media[p.media_id][0]
    assert sorted(f.name for f in folder.iterdir()) == ["1.jpg", "2.jpg", "3.jpg"]
    # Twice: nothing changes.
    before = {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}
    assert await job.run(deps(stack), clock.now()) == "stored 0, expired 0, waiting 0"
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == before
    assert [(p.status, p.path) for p in await photos_of(stack, event_id)] == [
        (p.status, p.path) for p in kept
    ]

    # A fourth photo the job does not get to within 3 days (WeChat has dropped it): expired. A fifth WeChat
    # does not give yet, within its 3 days: it waits for the next run, then expires too.
    await secretary.send("纪实")
    await secretary.send("2")
    await photo(secretary)
    await secretary.send("完成")
    clock.advance(3 * 86400 + 60)
    db = services(stack.client).db
    received = clock.now()
    await db.run(lambda s: save_record(s, event_id, None, None, [("MEDIA_unknown", received)], received))
    assert await job.run(deps(stack), clock.now()) == "stored 0, expired 1, waiting 1"
    clock.advance(3 * 86400)
    assert await job.run(deps(stack), clock.now()) == "stored 0, expired 1, waiting 0"
    assert [(p.seq, p.status, p.path) for p in await photos_of(stack, event_id)][3:] == [
        (4, "expired", None),
        (5, "expired", None),
    ]
    assert not (folder / "4.jpg").exists()
    assert await job.run(deps(stack), clock.now()) == "stored 0, expired 0, waiting 0"


# --- the export ----------------------------------------------------------------------------------------


def env(url: str, data_dir: Path) -> dict[str, str]:
    return {
        "PARTYBOT_DATABASE_URL": url,
        "PARTYBOT_WECHAT_TOKEN": "cli-token",
        "PARTYBOT_DATA_KEY": DATA_KEY,
        "PARTYBOT_DATA_DIR": str(data_dir),
    }


async def _month(url: str) -> Community:
    """November for 第一网格党支部: its theme day with three members present (by code, by QR, 补签), one on
    leave, one absent, and its record with two photos (one stored, one pending)."""
    db = Database(url)
    try:
        community = await seed(db)
        ids = community.ids

        def write(session: Session) -> None:
            event_id = theme_day(session, community, T0)
            event = session.get(Event, event_id)
            assert event is not None
            record_attendance(session, event, ids["YX-002"], "code", bj(2026, 11, 20, 8, 50), None)
            record_attendance(session, event, ids["YX-006"], "qr", bj(2026, 11, 20, 8, 55), None)
            record_attendance(session, event, ids["YX-004"], "manual", bj(2026, 11, 20, 9, 40), ids["YX-002"])
            leave = session.scalar(
                select(Invitation).where(
                    Invitation.event_id == event_id, Invitation.member_id == ids["YX-007"]
                )
            )
            assert leave is not None
            leave.answer, leave.reason = "leave", "外出"
            save_record(session, event_id, ids["YX-002"], RECORD_TEXT, [("M1", T0), ("M2", T0)], T0)
            first = session.scalar(
                select(EventPhoto.id).where(EventPhoto.event_id == event_id, EventPhoto.seq == 1)
            )
            assert first is not None
            mark_stored(session, first, photo_path(event_id, 1), T0)

        await db.run(write)
        return community
    finally:
        await db.dispose()


async def _audit(url: str) -> list[AuditEntry]:
    db = Database(url)
    try:
        async with db.read() as session:
            return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())
    finally:
        await db.dispose()


def test_the_export_as_a_table_and_a_workbook_is_audited(database_url: str, tmp_path: Path) -> None:
    asyncio.run(_month(database_url))
    runner = CliRunner()
    environment = env(database_url, tmp_path / "data")
    shown = runner.invoke(main, ["themeday", "record", "--month", "2026-11"], env=environment)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "2026-11 全部组织：1 次活动"
    assert lines[1].split() == EVENT_COLUMNS
    event = lines[3].split()
    assert event[:12] == [
        "2026-11-20", "09:00", "第一网格党支部", "主题党日", "学习党章", "党群服务中心",
        "5", "3", "1", "1", "60%", "有",
    ]  # fmt: skip
    assert event[-1].endswith("records/1/1.jpg；第2张（待下载）")
    assert "参加情况（按姓名）" in lines
    people = [line.split() for line in lines[lines.index("参加情况（按姓名）") + 3 :]]
    assert [(p[5], p[6], p[7:]) for p in people] == [
        ("林晓梅", "出席", ["签到码", "2026-11-20", "08:50"]),
        ("孙丽娟", "出席", ["扫码", "2026-11-20", "08:55"]),
        ("王秀兰", "出席", ["补签", "2026-11-20", "09:40"]),
        ("李文博", "请假", []),
        ("郑国平", "缺席", []),
    ]
    assert "138" not in shown.output and "外出" not in shown.output  # no phones, no leave reasons

    branch2 = runner.invoke(
        main, ["themeday", "record", "--month", "2026-11", "--unit", BRANCH2], env=environment
    )
    assert branch2.exit_code == 0 and branch2.output == f"2026-11 {BRANCH2}：没有活动。\n"
    bad = runner.invoke(main, ["themeday", "record", "--month", "2026-13"], env=environment)
    assert bad.exit_code == 2 and "--month 应写成年份和月份，例如 2026-12" in bad.output
    nowhere = runner.invoke(
        main, ["themeday", "record", "--month", "2026-11", "--unit", "没有"], env=environment
    )
    assert nowhere.exit_code == 2 and "没有组织“没有”" in nowhere.output

    book_path = tmp_path / "out" / "纪实.xlsx"
    written = runner.invoke(
        main,
        ["themeday", "record", "--month", "2026-11", "--unit", BRANCH1, "--xlsx", str(book_path)],
        env=environment,
    )
    assert written.exit_code == 0, written.output
    assert f"已写入 {book_path}" in written.output
    book = load_workbook(book_path)
    assert book.sheetnames == ["活动", "参加情况"]
    events = [[c.value for c in row] for row in book["活动"].iter_rows()]
    assert events[0] == EVENT_COLUMNS
    assert events[1][:13] == [
        "2026-11-20", "09:00", "第一网格党支部", "主题党日", "学习党章", "党群服务中心",
        5, 3, 1, 1, "60%", "有", RECORD_TEXT,
    ]  # fmt: skip
    assert str(events[1][13]).splitlines() == ["records/1/1.jpg", "第2张（待下载）"]
    people_sheet = [[c.value for c in row] for row in book["参加情况"].iter_rows()]
    assert people_sheet[0] == ["日期", "组织", "类型", "主题", "编号", "姓名", "情况", "方式", "签到时间"]
    assert people_sheet[1] == [
        "2026-11-20",
        "第一网格党支部",
        "主题党日",
        "学习党章",
        "YX-002",
        "林晓梅",
        "出席",
        "签到码",
        "2026-11-20 08:50",
    ]
    assert [r[5] for r in people_sheet[1:]] == ["林晓梅", "孙丽娟", "王秀兰", "李文博", "郑国平"]

    entries = [e for e in asyncio.run(_audit(database_url)) if e.action == "export_theme_day_records"]
    assert [(e.scope, e.detail["format"], e.detail["events"]) for e in entries] == [
        ("", "text", 1),
        (BRANCH2, "text", 0),
        (BRANCH1, "xlsx", 1),
    ]
    assert all(e.actor.startswith("cli:") and e.detail["month"] == "2026-11" for e in entries)


# --- 发起活动 --------------------------------------------------------------------------------------------


async def notices_of(stack: Stack, member_id: int) -> list[str]:
    async with services(stack.client).db.read() as session:
        rows = await session.execute(
            select(Notice.text)
            .join(OutboxRow, OutboxRow.notice_id == Notice.id)
            .where(OutboxRow.member_id == member_id)
            .order_by(Notice.id)
        )
        return [str(t) for (t,) in rows]


async def test_a_secretary_calls_a_group_meeting_and_members_get_the_notice(
    stack: Stack, clock: FixedClock
) -> None:
    community, _ = await setup(stack, "YX-006")
    ids = community.ids
    sun = ThroughFake(stack, "o-YX-006")  # 孙丽娟: writes first, so a customer-service message reaches her
    await sun.send("帮助")
    secretary = ThroughFake(stack, SECRETARY)
    ask = (await secretary.send("发起活动")).text
    assert ask.startswith(
        "发起活动（三会一课），共5步。\n第1步：请选择活动类型，回复数字：\n1 支部委员会\n2 党小组会"
    )
    assert (await secretary.send("5")).text.startswith("请回复1到4的数字选择类型")
    assert (
        await secretary.send("2")
    ).text == "第2步：请发送党小组会的主题，例如：学习党的二十届三中全会精神。"
    assert (await secretary.send("学")).text.startswith("主题请写2到100个字")
    assert (await secretary.send("学习党章第二章")).text.startswith(
        "第3步：请发送时间，例如：2026-11-22 15:00"
    )
    assert (await secretary.send("过几天吧")).text.startswith("没看懂这个时间。请这样写：2026-11-22 15:00")
    past = (await secretary.send("今天上午9点")).text
    assert past == "这个时间（11月21日（星期六）09:00）已经过去了，请发送以后的时间，例如：明天下午3点。"
    assert (await secretary.send("2026-11-20 09:00")).text.startswith(
        "这个时间（11月20日（星期五）09:00）已经过去了"
    )
    assert (await secretary.send("明天下午3点")).text.startswith("第4步：请发送地点")
    confirm = (await secretary.send("党群服务中心二楼")).text
    assert confirm == (
        "第5步：请核对：\n类型：党小组会\n主题：学习党章第二章\n时间：11月22日（星期日）15:00\n地点：党群服务中心二楼\n"
        "通知：第一网格党支部全体党员，共5人\n回复“确认”发起并通知，回复“取消”放弃。"
    )
    assert (await secretary.send("嗯")).text == confirm
    done = (await secretary.send("确认")).text
    assert done.startswith("已发起党小组会：11月22日（星期日）15:00，党群服务中心二楼。\n已通知5人")

    async with services(stack.client).db.read() as session:
        event = await session.scalar(select(Event).where(Event.kind == "group"))
        assert event is not None
        invited = set(
            (await session.scalars(select(Invitation.member_id).where(Invitation.event_id == event.id))).all()
        )
    assert (event.key, event.unit_id, event.month, event.starts_at) == (
        None, community.units[BRANCH1], "2026-11", bj(2026, 11, 22, 15)
    )  # fmt: skip
    assert invited == {ids[n] for n in ("YX-002", "YX-004", "YX-006", "YX-007", "YX-009")}
    texts = await notices_of(stack, ids["YX-009"])
    assert len(texts) == 1 and texts[0].startswith(
        "【党小组会通知】第一网格党支部定于11月22日（星期日）15:00在党群服务中心二楼召开党小组会。"
    )
    assert "主题：学习党章第二章" in texts[0] and await notices_of(stack, ids["YX-012"]) == []
    await services(stack.client).write_behind.flush()
    await stack.worker.drain()
    sent = [s.content["content"] for s in stack.sends("o-YX-006", api="custom") if s.msgtype == "text"]
    assert any(t.startswith("【党小组会通知】第一网格党支部定于11月22日") for t in sent)

    # The theme_day job carries it on: the eve's reminder once, not the first notice again.
    theme_day_job = job_named("theme_day")
    for _ in range(2):
        clock.set(bj(2026, 11, 21, 18, 5))
        await theme_day_job.run(deps(stack), clock.now())
    texts = [t for t in await notices_of(stack, ids["YX-009"]) if "党小组会" in t]
    assert len(texts) == 2 and texts[1].startswith("【党小组会提醒】明天11月22日（星期日）15:00")


async def test_a_committee_meeting_invites_only_the_committee(stack: Stack, clock: FixedClock) -> None:
    community, _ = await setup(stack)
    ids = community.ids
    secretary = ThroughFake(stack, SECRETARY)
    await secretary.send("发起活动")
    assert (await secretary.send("一")).text.startswith("第2步：请发送支部委员会的主题")
    await secretary.send("研究发展党员工作")
    await secretary.send("11月23日上午9点")
    confirm = (await secretary.send("党群服务中心")).text
    assert "通知：第一网格党支部支部委员（书记、副书记、委员），共2人" in confirm
    assert (await secretary.send("确认")).text.startswith("已发起支部委员会：11月23日（星期一）09:00")
    committee = {ids["YX-002"], ids["YX-007"]}

    async def invited() -> set[int]:
        async with services(stack.client).db.read() as session:
            event_id = await session.scalar(select(Event.id).where(Event.kind == "committee"))
            found = await session.scalars(select(Invitation.member_id).where(Invitation.event_id == event_id))
            return set(found.all())

    assert await invited() == committee
    # The reminders (the job) go to the committee only, and nobody else is invited on the way.
    for at in (bj(2026, 11, 22, 18, 5), bj(2026, 11, 22, 18, 15), bj(2026, 11, 23, 8, 5)):
        clock.set(at)
        await job_named("theme_day").run(deps(stack), at)
    assert await invited() == committee
    assert len([t for t in await notices_of(stack, ids["YX-007"]) if "支部委员会" in t]) == 3
    assert not any("支部委员会" in t for t in await notices_of(stack, ids["YX-009"]))


async def test_leaving_a_meeting_half_way_creates_nothing(stack: Stack) -> None:
    await setup(stack)
    secretary = ThroughFake(stack, SECRETARY)
    await secretary.send("发起活动")
    await secretary.send("4")
    assert (await secretary.send("0")).text.startswith("已退出当前操作。")
    async with services(stack.client).db.read() as session:
        count: Any = await session.scalar(
            select(func.count()).select_from(Event).where(Event.kind != "theme_day")
        )
    assert count == 0
