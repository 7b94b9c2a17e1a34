"""request_deadlines in chunks: tickets spread over several chunks (CHUNK made tiny) each get their steps
once, the notices written in bulk carry their grid workers' and residents' openids (outbox rows keyed as
add_system_notice keys them, every reporter of a merged group told), and a second run writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.content import load_content
from bot.domain import request_deadlines
from bot.settings import Settings
from models import Notice, OutboxRow, RequestEvent, RequestTicket
from models.db import Database
from scheduler.jobs import JobDeps, job_named
from tests.request_seed import GRID, RequestCommunity, file, reporter, seed_requests, sent


def bj(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def run(db: Database, settings: Settings, now: datetime) -> str:
    deps = JobDeps(db, settings, load_content())
    return await job_named("request_deadlines").run(deps, now)


async def written(db: Database) -> tuple[int, int, int]:
    async with db.read() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(Notice)) or 0),
            int(await session.scalar(select(func.count()).select_from(OutboxRow)) or 0),
            int(await session.scalar(select(func.count()).select_from(RequestEvent)) or 0),
        )


async def test_chunks_each_step_once_with_openids(
    db: Database, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    town: RequestCommunity = await seed_requests(db)
    settings = make_settings()
    monkeypatch.setattr(request_deadlines, "CHUNK", 2)
    t0 = bj(2026, 12, 3, 10)
    places = ["1号楼", "2号楼", "3号楼", "5号楼", "9号楼"]
    filed = [await file(db, t0, reporter(n), f"{p}楼道灯坏了") for n, p in enumerate(places, 1)]
    merged = await file(db, t0 + timedelta(minutes=30), reporter(9), "1号楼楼道灯不亮")
    assert merged.merged_into == filed[0].number
    # Fri 4 Dec 12:00: every ticket is past take_due (24 h) → the branch's secretary, the residents told.
    summary = await run(db, settings, bj(2026, 12, 4, 12))
    assert summary == "reminded 0, escalated 5, rating reminders 0, closed unrated 0"
    notices = {n.key: n for n in await sent(db)}
    first = filed[0].ticket_id
    assert notices[f"request:{first}:take:escalate1"].member_ids == {town.member("YX-002")}
    assert notices[f"request:{first}:take:escalate1:resident"].openids == {"o-resident-1", "o-resident-9"}
    for n, one in enumerate(filed[1:], 2):
        assert notices[f"request:{one.ticket_id}:take:escalate1:resident"].openids == {f"o-resident-{n}"}
    async with db.read() as session:
        key, count = (
            await session.execute(
                select(OutboxRow.idempotency_key, Notice.recipients)
                .join(Notice, Notice.id == OutboxRow.notice_id)
                .where(
                    Notice.author == f"request:{first}:take:escalate1:resident",
                    OutboxRow.openid == "o-resident-9",
                )
            )
        ).one()
        steps = (
            await session.execute(select(RequestTicket.take_step, RequestTicket.next_step_at).where(
                RequestTicket.id == first))
        ).one()  # fmt: skip
    assert key.endswith(":openid:o-resident-9") and key.startswith("notice:") and count == 2
    assert steps[0] == 2 and steps[1] is not None  # the 80 % reminder skipped (past due), escalate1 done
    before = await written(db)
    assert (await run(db, settings, bj(2026, 12, 4, 12, 10))).startswith("reminded 0, escalated 0")
    assert await written(db) == before
    # Sat 5 Dec 10:00 (take_due + 24 h): the community's secretary (吹哨), each once.
    assert (await run(db, settings, bj(2026, 12, 5, 10))).startswith("reminded 0, escalated 5")
    assert (await run(db, settings, bj(2026, 12, 5, 10, 10))).startswith("reminded 0, escalated 0")
    notices = {n.key: n for n in await sent(db)}
    assert notices[f"request:{first}:take:escalate2"].member_ids == {town.member("YX-001")}
    # Thu 9 Dec 15:36 is 80 % of 7 days: the solve phase's reminder to the grid's handlers.
    assert (await run(db, settings, bj(2026, 12, 9, 16))).startswith("reminded 5, escalated 0")
    notices = {n.key: n for n in await sent(db)}
    assert notices[f"request:{first}:solve:remind80"].openids == {GRID}
