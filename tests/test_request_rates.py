"""The three rates of 居民诉求 against a month computed by hand: 响应率 (taken within take_due), 解决率 (the
latest 办结 within solve_due, a reopened ticket counting by its final one), 满意率 (满意 or 基本满意 among
the rated, every reporter's latest rating), a merged group once for the first two, unrated closes apart, the
month of filing in local time, rolled up the tree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy.orm import Session

from bot.domain.request_deadlines import due_steps
from bot.domain.request_rates import Rates, rates
from bot.domain.requests import (
    Handler,
    RequestRules,
    handler_for_member,
    handler_for_staff,
    rate,
    solve,
    take,
)
from models import Staff
from models.db import Database
from tests.community import BRANCH1, BRANCH2, COMMUNITY, GROUP1
from tests.request_seed import RequestCommunity, file, reporter, say, seed_requests


def bj(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def town(db: Database) -> RequestCommunity:
    return await seed_requests(db)


async def handlers(db: Database, town: RequestCommunity) -> tuple[Handler, Handler, Handler]:
    def find(session: Session) -> tuple[Handler, Handler, Handler]:
        staff_id = session.query(Staff.id).scalar()
        grid = handler_for_staff(session, int(staff_id))
        second = handler_for_member(session, town.member("YX-003"))
        community = handler_for_member(session, town.member("YX-001"))
        assert grid is not None and second is not None and community is not None
        return grid, second, community

    return await db.run(find)


def _rate(session: Session, at: datetime, openid: str, value: int) -> object:
    return rate(session, at, say, openid, value)


async def month_of_tickets(db: Database, town: RequestCommunity) -> None:
    grid, second, community = await handlers(db, town)

    async def loop(
        number: str,
        who: Handler,
        taken: datetime | None,
        solved: datetime | None,
        ratings: list[tuple[str, int]],
    ) -> None:
        if taken is not None:
            await db.run(lambda s: take(s, taken, say, who, number))
        if solved is not None:
            await db.run(lambda s: solve(s, solved, say, who, number, "已处理"))
            for openid, value in ratings:
                await db.run(partial(_rate, at=solved + H, openid=openid, value=value))

    # First grid.
    a = await file(db, bj(11, 2), reporter(1), "1号楼楼道灯坏了")  # in time, in time, 满意
    await loop(a.number, grid, bj(11, 2) + H, bj(11, 4), [("o-resident-1", 1)])
    b = await file(db, bj(11, 3), reporter(2), "2号楼垃圾没人清运", category="环境卫生")  # taken late (30 h)
    await loop(b.number, grid, bj(11, 3) + 30 * H, bj(11, 6), [("o-resident-2", 2)])
    # Three reporters of one lift: once for the first two; solved late (8 days); 满意, 基本满意, unrated.
    c = await file(db, bj(11, 5), reporter(3), "3号楼电梯坏了")
    await file(db, bj(11, 5) + 2 * H, reporter(4), "3号楼电梯停了")
    await file(db, bj(11, 5) + 3 * H, reporter(5), "3号楼电梯不动了")
    await loop(c.number, grid, bj(11, 5) + 2 * H, bj(11, 13), [("o-resident-3", 1), ("o-resident-4", 2)])
    await db.run(lambda s: due_steps(s, bj(11, 16, 10, 10), RequestRules(), say))  # the third closes unrated
    # Reopened on 不满意, solved again in time, then 基本满意: solved, rated once (its latest).
    d = await file(db, bj(11, 10), reporter(6), "1号楼楼上邻居噪音扰民", category="邻里纠纷")
    await loop(d.number, grid, bj(11, 10) + H, bj(11, 11), [("o-resident-6", 3)])
    await loop(d.number, grid, None, bj(11, 13), [("o-resident-6", 2)])
    # Never taken.
    await file(db, bj(11, 12), reporter(7), "2号楼门禁坏了")
    # 不满意 twice: closed unsatisfied; its final 办结 was in time.
    g = await file(db, bj(11, 15), reporter(8), "1号楼有陌生人撬门", category="治安安全")
    await loop(g.number, grid, bj(11, 15) + H, bj(11, 16), [("o-resident-8", 3)])
    await loop(g.number, grid, None, bj(11, 18), [("o-resident-8", 3)])
    # 00:30 on 1 December in Beijing (still 30 November in UTC): December's.
    await file(db, bj(12, 1, 0, 30), reporter(9), "3号楼路灯坏了")
    # Second grid: everything in time, 满意.
    h = await file(db, bj(11, 20), reporter(10), "5号楼下水道堵了")
    await loop(h.number, second, bj(11, 20) + H, bj(11, 21), [("o-resident-10", 1)])
    # The community's own (9号楼, no grid): taken late, not solved.
    i = await file(db, bj(11, 21), reporter(11), "9号楼电梯坏了")
    await loop(i.number, community, bj(11, 23), None, [])


def counts(r: Rates) -> tuple[int, int, int, int, int, int]:
    return (r.tickets, r.responded, r.solved, r.rated, r.satisfied, r.unrated_closed)


async def test_the_three_rates_of_a_month_computed_by_hand(db: Database, town: RequestCommunity) -> None:
    await month_of_tickets(db, town)
    found = await db.run(lambda s: rates(s, "2026-11", COMMUNITY))
    assert [(r.unit_path, r.unit_name, r.month) for r in found] == [
        (COMMUNITY, "银杏社区党委", "2026-11"),
        (BRANCH1, "第一网格党支部", "2026-11"),
        (BRANCH2, "第二网格党支部", "2026-11"),
    ]
    # First grid: tickets A B C D E G = 6 (the lift once); responded A C D G = 4; solved A B D G = 4;
    # rated A B C(r3) C(r4) D G = 6, of which satisfied 5 (G 不满意); C's third reporter closed unrated.
    # Second grid: H, all 1. The community: tickets 6 + 1 + its own I = 8; responded 4 + 1 + 0 = 5;
    # solved 4 + 1 + 0 = 5; rated 6 + 1 = 7; satisfied 5 + 1 = 6; unrated 1.
    assert [counts(r) for r in found] == [(8, 5, 5, 7, 6, 1), (6, 4, 4, 6, 5, 1), (1, 1, 1, 1, 1, 0)]
    community = found[0]
    assert (community.response_rate, community.solve_rate, community.satisfaction_rate) == (
        5 / 8,
        5 / 8,
        6 / 7,
    )
    grid = await db.run(lambda s: rates(s, "2026-11", BRANCH1))
    assert [(r.unit_path, counts(r)) for r in grid] == [
        (BRANCH1, (6, 4, 4, 6, 5, 1)),
        (GROUP1, (0, 0, 0, 0, 0, 0)),
    ]
    assert grid[1].response_rate is None and grid[1].satisfaction_rate is None
    december = await db.run(lambda s: rates(s, "2026-12", COMMUNITY, by="grid"))
    assert [counts(r) for r in december] == [(1, 0, 0, 0, 0, 0), (1, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0)]
