"""积分: awards once per thing (also when two transactions race), this month and this year in local time,
and `积分`: mine, and my branch's ranking with the others' names masked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain import points
from models import Member, PointEntry
from models.db import Database
from tests.community import BRANCH1, BRANCH2, seed
from tests.conftest import T0, Stack
from tests.helpers import services
from tests.wechat import ThroughFake

# Beijing is UTC+8: 2026-11-30 23:30 there is 15:30 UTC, still November; 2026-12-01 00:10 is December.
END_OF_NOVEMBER = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
START_OF_DECEMBER = datetime(2026, 11, 30, 16, 10, tzinfo=UTC)


async def test_an_award_is_given_once_per_key(database_url: str) -> None:
    db = Database(database_url)
    try:
        community = await seed(db)
        member = community.ids["YX-009"]
        key = f"study:7:{member}"
        assert await db.run(lambda s: points.award(s, member, "study", key, T0)) is True
        assert await db.run(lambda s: points.award(s, member, "study", key, T0)) is False
        # The theme day's codes (handlers/theme_day.py awards them) have their rules.
        assert await db.run(
            lambda s: points.award(s, member, "theme_day_sign_in", "theme_day:1:9:sign_in", T0)
        )
        assert await db.run(lambda s: points.award(s, member, "make_up", "theme_day:2:9:make_up", T0))
        with pytest.raises(points.UnknownReason):
            await db.run(lambda s: points.award(s, member, "nonsense", "x", T0))
        async with db.read() as session:
            rows = (
                await session.execute(select(PointEntry.reason, PointEntry.points, PointEntry.unit_id))
            ).all()
        unit = community.units[BRANCH1]
        assert sorted(rows) == sorted(
            [("study", 1, unit), ("theme_day_sign_in", 2, unit), ("make_up", 1, unit)]
        )
    finally:
        await db.dispose()


async def test_two_racing_awards_of_one_thing_write_one_row(database_url: str) -> None:
    """Two processes (two engines) award the same key at once: the unique key keeps one."""
    first, second = Database(database_url), Database(database_url)
    try:
        community = await seed(first)
        member = community.ids["YX-004"]
        results = [
            await db.run(lambda s: points.award(s, member, "study", f"study:1:{member}", T0))
            for db in (first, second)
        ]
        assert results == [True, False]
        async with first.read() as session:
            assert await session.scalar(select(func.count()).select_from(PointEntry)) == 1
    finally:
        await first.dispose()
        await second.dispose()


async def test_this_month_and_this_year_are_local_time(database_url: str) -> None:
    db = Database(database_url)
    try:
        community = await seed(db)
        member = community.ids["YX-009"]

        def award(session: Session) -> None:
            points.award(session, member, "study", "study:1:x", END_OF_NOVEMBER)
            points.award(session, member, "theme_day_sign_in", "theme_day:1:x:sign_in", START_OF_DECEMBER)
            # 2026-01-01 00:00 in Beijing (this year), and a minute before (last year).
            points.award(session, member, "study", "study:2:x", datetime(2025, 12, 31, 16, 0, tzinfo=UTC))
            points.award(session, member, "study", "study:3:x", datetime(2025, 12, 31, 15, 59, tzinfo=UTC))

        await db.run(award)
        async with db.read() as session:
            november = await session.run_sync(lambda s: points.summary(s, member, END_OF_NOVEMBER))
            december = await session.run_sync(lambda s: points.summary(s, member, START_OF_DECEMBER))
        assert (november.month, november.year, november.month_by_reason) == (1, 4, {"study": 1})
        assert (december.month, december.year, december.month_by_reason) == (2, 4, {"theme_day_sign_in": 2})
    finally:
        await db.dispose()


def test_names_are_masked() -> None:
    assert [points.mask_name(n) for n in ("王秀兰", "刘洋", "欧阳建国", "")] == ["王**", "刘*", "欧***", "*"]


async def test_my_points_and_my_branch_ranking(stack: Stack) -> None:
    db = services(stack.client).db
    community = await seed(db, bind=("YX-009", "YX-012"))
    ids = community.ids
    now = T0

    def award(session: Session) -> None:
        for n in range(3):
            points.award(session, ids["YX-002"], "study", f"study:{n}:{ids['YX-002']}", now)
        points.award(session, ids["YX-002"], "theme_day_sign_in", "theme_day:1:2:sign_in", now)
        points.award(session, ids["YX-009"], "study", f"study:1:{ids['YX-009']}", now)
        points.award(session, ids["YX-009"], "make_up", "theme_day:1:9:make_up", now)
        points.award(
            session, ids["YX-009"], "study", "study:9:last-month", datetime(2026, 10, 20, tzinfo=UTC)
        )
        points.award(session, ids["YX-004"], "theme_day_sign_in", "theme_day:1:4:sign_in", now)
        points.award(session, ids["YX-013"], "study", f"study:1:{ids['YX-013']}", now)  # 第二网格

    await db.run(award)
    member = ThroughFake(stack, "o-YX-009")  # 郑国平, 第一网格党支部
    reply = (await member.send("积分")).text
    assert reply == (
        "郑国平同志，您本月积分2分，今年积分3分。（本月：学习1分、补学1分）\n"
        "第一网格党支部本月积分排名：\n"
        "1. 林** 5分\n"
        "2. 王** 2分\n"
        "2. 郑国平（您）2分\n"
        "4. 孙** 0分\n"
        "4. 李** 0分\n"
        "积分来自学习园地“已学”、主题党日签到和补学。"
    )
    assert (await member.send("7")).text == reply  # 我的积分, appended to the member's menu
    assert "7 我的积分" in (await member.send("帮助")).text

    other = ThroughFake(stack, "o-YX-012")  # 王秀兰 of 第二网格: no points this month
    assert (await other.send("我的积分")).text.startswith(
        "王秀兰同志，您本月积分0分，今年积分0分。\n第二网格党支部本月积分排名：\n1. 刘* 1分\n"
    )
    stranger = ThroughFake(stack, "o-stranger")
    assert (await stranger.send("积分")).text.startswith("这项服务需要先绑定党员身份。")


async def test_a_long_ranking_shows_the_top_and_my_own_row(stack: Stack) -> None:
    db = services(stack.client).db
    community = await seed(db, bind=("YX-013",))

    def crowd(session: Session) -> None:
        for n in range(12):
            member = Member(
                number=f"YX-1{n:02d}",
                name=f"赵{n:02d}",
                unit_id=community.units[BRANCH2],
                status="正式",
                kind="在职",
                created_at=T0,
                updated_at=T0,
            )
            session.add(member)
            session.flush()
            points.award(session, member.id, "study", f"study:1:{member.id}", T0)

    await db.run(crowd)
    lines = (await ThroughFake(stack, "o-YX-013").send("积分")).text.splitlines()
    assert lines[1] == "第二网格党支部本月积分排名："
    assert lines[2:-1] == ["1. 赵** 1分"] * 10 + ["……", "1. 赵** 1分", "13. 刘洋（您）0分", "（共15人）"]
