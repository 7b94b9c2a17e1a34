"""主题党日 in chat beyond the month's walk (tests/test_theme_day.py): 主题党日 设置 in steps with the time
forms and the refusals, a change notice, 主题党日 情况 for the community secretary, the sign-in QR code on a
service account, who may not use the secretary's commands, and `partybot jobs run theme_day --now`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from bot.app import CONTENT, SETTINGS
from bot.cli import main
from bot.clock import FixedClock
from models import Attendance, Event, Notice, OrgUnit
from models.db import Database
from scheduler.jobs import JobDeps, job_named
from tests.community import BRANCH1, BRANCH2, COMMUNITY, seed
from tests.conftest import DATA_KEY, Stack, StackFactory
from tests.helpers import services
from tests.wechat import ThroughFake


def bj(*args: int) -> datetime:
    year, month, day, hour, minute = args
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack()


async def job(stack: Stack, clock: FixedClock, at: datetime) -> str:
    clock.set(at)
    app = stack.client.app
    assert app is not None
    return await job_named("theme_day").run(
        JobDeps(services(stack.client).db, app[SETTINGS], app[CONTENT]), at
    )


async def rules(stack: Stack) -> None:
    def write(session):  # type: ignore[no-untyped-def]
        session.execute(update(OrgUnit).where(OrgUnit.path == BRANCH1).values(theme_day_rule="每月20日"))
        session.execute(update(OrgUnit).where(OrgUnit.path == BRANCH2).values(theme_day_rule="每月18日"))

    await services(stack.client).db.run(write)


async def test_before_the_first_notice_the_whole_branch_counts_as_not_answered(
    stack: Stack, clock: FixedClock
) -> None:
    await seed(services(stack.client).db, bind=("YX-002", "YX-004"))
    await rules(stack)
    await job(stack, clock, bj(2026, 12, 10, 9, 0))  # the 20th's event exists; its week notice is not due
    wang = ThroughFake(stack, "o-YX-004")
    # She saw it with 主题党日 and answers before any notice has invited her.
    assert (await wang.send("参加")).text.startswith("已为您报名主题党日：12月20日"), "answered early"
    lin = ThroughFake(stack, "o-YX-002")
    view = (await lin.send("主题党日")).text
    assert "已报名1人，请假0人，未回复4人。" in view, view
    listing = (await lin.send("报名情况")).text
    assert "未回复（4人）" in listing and "王秀兰" in listing.split("未回复")[0], listing


async def test_the_answers_list_pages_with_next_page(
    stack: Stack, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.theme_day

    monkeypatch.setattr(handlers.theme_day, "PAGE_BYTES", 40)  # five names: a page or two each
    await seed(services(stack.client).db, bind=("YX-002",))
    await rules(stack)
    await job(stack, clock, bj(2026, 12, 13, 9, 0))
    lin = ThroughFake(stack, "o-YX-002")
    first = (await lin.send("报名情况")).text
    total = int(first.split("（第1/")[1].split("页）")[0])
    assert total >= 2, first
    second = (await lin.send("下一页")).text
    assert "（第2/" in second and second != first, second
    for _ in range(total - 2):
        await lin.send("下一页")
    # Past the last page: said, not the list again.
    assert (await lin.send("下一页")).text.startswith("没有可以翻的页了")


async def test_the_secretary_sets_topic_time_and_place_and_members_hear_of_the_change(
    stack: Stack, clock: FixedClock
) -> None:
    community = await seed(services(stack.client).db, bind=("YX-002", "YX-004", "YX-009"))
    await rules(stack)
    await job(stack, clock, bj(2026, 12, 13, 9, 0))  # the week notice of the 20th
    lin = ThroughFake(stack, "o-YX-002")
    view = (await lin.send("主题党日")).text
    assert view.startswith("【本月主题党日】第一网格党支部\n时间：12月20日（星期日）09:00")
    assert "地点：党群服务中心" in view and "已报名0人，请假0人，未回复5人。" in view

    assert (await lin.send("主题党日 设置")).text.startswith(
        "修改本月主题党日（12月20日（星期日）09:00）。\n第1步"
    )
    assert (await lin.send("学习垃圾分类新规")).text.startswith("第2步：请发送时间")
    assert (await lin.send("下个礼拜吧")).text.startswith("没看懂这个时间。")
    assert (await lin.send("今天上午8点")).text == "这个时间已经过去了，请发送今后的时间。"
    assert (await lin.send("1月3日上午9点")).text == "只能调整本月活动的日期，请发送12月内的时间。"
    assert (await lin.send("12月19日下午3点")).text.startswith("第3步：请发送地点。当前：党群服务中心")
    done = (await lin.send("3号楼一楼活动室")).text
    assert done.startswith(
        "已更新主题党日：\n时间：12月19日（星期六）15:00\n地点：3号楼一楼活动室\n主题：学习垃圾分类新规"
    )
    assert done.endswith("已通知本支部党员。")
    async with services(stack.client).db.read() as session:
        changes = (
            await session.scalars(select(Notice.text).where(Notice.author.like("theme_day:%:change:%")))
        ).all()
    assert len(changes) == 1 and changes[0].startswith(
        "【主题党日变更】第一网格党支部的主题党日改为12月19日（星期六）15:00"
    )
    # The job keeps the secretary's date: the eve reminder goes on the 18th at 18:00.
    await job(stack, clock, bj(2026, 12, 18, 18, 0))
    async with services(stack.client).db.read() as session:
        event = await session.scalar(
            select(Event).where(Event.key == f"theme_day:{community.units[BRANCH1]}:2026-12")
        )
        assert event is not None
        eve = await session.scalar(
            select(func.count()).select_from(Notice).where(Notice.author == f"theme_day:{event.id}:eve")
        )
    assert event.starts_at == bj(2026, 12, 19, 15, 0) and eve == 1

    # Skipping every step changes nothing and tells nobody.
    await lin.send("主题党日 设置")
    await lin.send("跳过")
    await lin.send("跳过")
    assert (await lin.send("跳过")).text.endswith("党员会在活动前7天、前一天和当天收到通知。")


async def test_members_may_not_use_the_secretarys_commands(stack: Stack, clock: FixedClock) -> None:
    await seed(services(stack.client).db, bind=("YX-009",))
    clock.set(bj(2026, 12, 13, 9, 0))
    zheng = ThroughFake(stack, "o-YX-009")
    for command in ("签到码", "补签 王秀兰"):
        assert (await zheng.send(command)).text == "这项操作只有支部书记、副书记可以使用。"
    assert not (await zheng.send("报名情况")).text.startswith("【报名情况】")
    assert not (await zheng.send("主题党日 设置")).text.startswith("修改本月")
    assert (await zheng.send("签到")).text == "请发送“签到”加书记公布的四位签到码，例如：签到 1234"
    # A member may answer this month's theme day before its first notice (but only for themselves).
    assert (await zheng.send("参加")).text.startswith("已为您报名主题党日：")
    resident = ThroughFake(stack, "o-stranger")
    assert (await resident.send("主题党日")).text.startswith("主题党日是党员的组织生活。党员请先绑定")
    assert (await resident.send("签到 1234")).text.startswith("签到只对本支部党员开放")


async def test_the_community_secretary_sees_each_branch_and_scanning_the_qr_code_signs_in(
    stack: Stack, clock: FixedClock
) -> None:
    community = await seed(services(stack.client).db, bind=("YX-001", "YX-002", "YX-003", "YX-009"))
    await rules(stack)
    await job(stack, clock, bj(2026, 12, 11, 9, 0))  # branch 2's week notice (the 18th)
    await job(stack, clock, bj(2026, 12, 13, 9, 0))  # branch 1's (the 20th)
    zhou = ThroughFake(stack, "o-YX-001")
    overview = (await zhou.send("主题党日 情况")).text
    assert overview.startswith("【2026年12月主题党日情况】银杏社区党委")
    assert "第一网格党支部：计划12月20日（星期日）09:00" in overview
    assert "第二网格党支部：计划12月18日（星期五）09:00" in overview

    clock.set(bj(2026, 12, 20, 8, 45))
    lin = ThroughFake(stack, "o-YX-002")
    reply = (await lin.send("签到码")).text
    assert "扫码签到二维码（可投屏或打印）：https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=" in reply
    code = reply.split("\n", 1)[0].removeprefix("签到码：")
    async with services(stack.client).db.read() as session:
        event = await session.scalar(
            select(Event).where(Event.key == f"theme_day:{community.units[BRANCH1]}:2026-12")
        )
    assert event is not None
    zheng = ThroughFake(stack, "o-YX-009")
    scanned = await zheng.event("SCAN", EventKey=f"signin:{event.id}:{code}")
    assert scanned.text.startswith("签到成功：主题党日，08:45")
    async with services(stack.client).db.read() as session:
        how = await session.scalar(select(Attendance.how).where(Attendance.event_id == event.id))
    assert how == "qr"
    # Branch 2 (the 18th) was not held: the overview says so.
    overview = (await zhou.send("主题党日 情况")).text
    assert "第二网格党支部：未开展（12月18日（星期五）09:00）" in overview
    assert COMMUNITY.endswith("银杏社区党委")


def test_jobs_run_theme_day_as_of_a_moment_twice_writes_once(database_url: str) -> None:
    async def prepare() -> None:
        db = Database(database_url)
        try:
            await seed(db, bind=("YX-002",))
            await db.run(
                lambda s: s.execute(
                    update(OrgUnit).where(OrgUnit.path == BRANCH1).values(theme_day_rule="每月20日")
                )
            )
        finally:
            await db.dispose()

    async def notices() -> int:
        db = Database(database_url)
        try:
            async with db.read() as session:
                return int(await session.scalar(select(func.count()).select_from(Notice)) or 0)
        finally:
            await db.dispose()

    asyncio.run(prepare())
    env = {
        "PARTYBOT_DATABASE_URL": database_url,
        "PARTYBOT_WECHAT_TOKEN": "cli-token",
        "PARTYBOT_DATA_KEY": DATA_KEY,
    }
    runner = CliRunner()
    first = runner.invoke(main, ["jobs", "run", "theme_day", "--now", "2026-12-13T09:00"], env=env)
    assert first.exit_code == 0, first.output
    assert "2026-12-13 09:00 +08:00" in first.output and "notices 3" in first.output
    written = asyncio.run(notices())
    again = runner.invoke(main, ["jobs", "run", "theme_day", "--now", "2026-12-13T09:00"], env=env)
    assert again.exit_code == 0 and "notices 0" in again.output
    assert asyncio.run(notices()) == written >= 1
