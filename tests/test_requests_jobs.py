"""居民诉求's jobs as of fixed moments, on a real database: request_deadlines' 80 % reminder, both escalation
steps (the branch's secretary, then the community's; the resident told), each exactly once however often the
job runs, non-urgent tickets waiting for 08:00–20:00 while urgent ones go on at night; the rating reminder
then the unrated close; request_photos' download and the retention's deletion."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.content import load_content
from bot.domain.requests import Handler, State, add_photo, handler_for_staff, solve, take
from bot.settings import Settings
from bot.wechat.errors import WeChatError
from models import RequestEvent, RequestPhoto, RequestTicket, Staff
from models.db import Database
from scheduler.jobs import JobDeps, job_named
from tests.request_seed import GRID, RequestCommunity, Sent, file, reporter, say, seed_requests, sent


def bj(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


class FakeGateway:
    def __init__(self, media: dict[str, bytes]) -> None:
        self.media = media
        self.calls: list[str] = []

    async def get_media(self, media_id: str) -> bytes:
        self.calls.append(media_id)
        if media_id not in self.media:
            raise WeChatError(40007, "invalid media_id")
        return self.media[media_id]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def town(db: Database) -> RequestCommunity:
    return await seed_requests(db)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(data_dir=tmp_path / "data", request_photo_retention_days=30)


async def run(db: Database, settings: Settings, name: str, now: datetime, gateway: object = None) -> str:
    deps = JobDeps(db, settings, load_content(), gateway=gateway)  # type: ignore[arg-type]
    return await job_named(name).run(deps, now)


async def grid_worker(db: Database) -> Handler:
    def find(session: Session) -> Handler:
        handler = handler_for_staff(session, session.scalars(select(Staff.id)).one())
        assert handler is not None
        return handler

    return await db.run(find)


def keys(notices: list[Sent]) -> list[str]:
    return [n.key for n in notices]


async def test_escalations_once_each_and_quiet_hours_for_non_urgent(
    db: Database, town: RequestCommunity, settings: Settings
) -> None:
    urgent = await file(db, bj(2026, 12, 3, 22), reporter(1), "3号楼楼道冒烟了", urgent=True)
    ordinary = await file(db, bj(2026, 12, 3, 22), reporter(2), "2号楼楼道灯坏了")
    u, o = urgent.ticket_id, ordinary.ticket_id
    before = len(await sent(db))

    async def twice(now: datetime) -> list[str]:
        first = await run(db, settings, "request_deadlines", now)
        again = await run(db, settings, "request_deadlines", now + timedelta(minutes=10))
        assert again.startswith("reminded 0, escalated 0"), again
        return [first]

    # Urgent (2 hours): at night all the same. 80 % at 23:36 → its handlers.
    assert await twice(bj(2026, 12, 3, 23, 40)) == [
        "reminded 1, escalated 0, rating reminders 0, closed unrated 0"
    ]
    # Due at 00:00 → the first grid's secretary (林晓梅), the resident told; 02:00 → the community's (周建国).
    await twice(bj(2026, 12, 4, 0, 10))
    await twice(bj(2026, 12, 4, 2, 10))
    notices = (await sent(db))[before:]
    assert keys(notices) == [
        f"request:{u}:take:remind80",
        f"request:{u}:take:escalate1",
        f"request:{u}:take:escalate1:resident",
        f"request:{u}:take:escalate2",
        f"request:{u}:take:escalate2:resident",
    ]
    assert notices[0].openids == {GRID}
    assert notices[1].member_ids == {town.member("YX-002")} and "督办" in notices[1].text
    assert notices[2].openids == {"o-resident-1"} and "督办" in notices[2].text
    assert notices[3].member_ids == {town.member("YX-001")}
    # Non-urgent (24 hours): 80 % at Fri 17:12, in the day; due at Fri 22:00 → waits for Sat 08:00.
    await twice(bj(2026, 12, 4, 17, 20))
    assert keys(await sent(db))[-1] == f"request:{o}:take:remind80"
    assert (await run(db, settings, "request_deadlines", bj(2026, 12, 4, 22, 10))).startswith(
        "reminded 0, escalated 0"
    )
    assert (await run(db, settings, "request_deadlines", bj(2026, 12, 5, 7, 50))).startswith(
        "reminded 0, escalated 0"
    )
    await twice(bj(2026, 12, 5, 8, 0))
    assert keys(await sent(db))[-2:] == [
        f"request:{o}:take:escalate1",
        f"request:{o}:take:escalate1:resident",
    ]
    # Taken late: the take phase is over, the solve phase's steps go on by solve_due (7 days).
    handler = await grid_worker(db)
    await db.run(lambda s: take(s, bj(2026, 12, 5, 9), say, handler, ordinary.number))
    await twice(bj(2026, 12, 6, 23, 0))  # the take phase's second step is gone with the take
    assert keys(await sent(db))[-1] == f"request:{o}:taken:{(await _last_event(db, o)).id}"
    # Solve: 80 % of 7 days is Wed 9 Dec 12:24, to whoever took it.
    assert (await run(db, settings, "request_deadlines", bj(2026, 12, 9, 12, 20))).startswith("reminded 0")
    await twice(bj(2026, 12, 9, 12, 30))
    last = (await sent(db))[-1]
    assert last.key == f"request:{o}:solve:remind80" and last.openids == {GRID}
    async with db.read() as session:
        escalations = (
            await session.scalars(
                select(RequestEvent.note).where(RequestEvent.ticket_id == u, RequestEvent.kind == "escalated")
            )
        ).all()
    assert list(escalations) == ["take 1", "take 2"]


async def _last_event(db: Database, ticket_id: int) -> RequestEvent:
    async with db.read() as session:
        found = (
            await session.scalars(
                select(RequestEvent)
                .where(RequestEvent.ticket_id == ticket_id, RequestEvent.kind == "taken")
                .order_by(RequestEvent.id.desc())
            )
        ).first()
    assert found is not None
    return found


async def test_rating_reminder_then_closed_unrated(
    db: Database, town: RequestCommunity, settings: Settings
) -> None:
    filed = await file(db, bj(2026, 12, 3, 10), reporter(1), "1号楼下水道堵了")
    handler = await grid_worker(db)
    await db.run(lambda s: take(s, bj(2026, 12, 3, 11), say, handler, filed.number))
    await db.run(lambda s: solve(s, bj(2026, 12, 3, 15), say, handler, filed.number, "已疏通"))
    assert (await run(db, settings, "request_deadlines", bj(2026, 12, 5, 14))).endswith(
        "rating reminders 0, closed unrated 0"
    )
    for _ in range(2):
        await run(db, settings, "request_deadlines", bj(2026, 12, 5, 15, 10))
    reminders = [n for n in await sent(db) if n.key.endswith(":rate_reminder")]
    assert len(reminders) == 1 and reminders[0].openids == {"o-resident-1"}
    assert "回复1满意 2基本满意 3不满意" in reminders[0].text
    summary = await run(db, settings, "request_deadlines", bj(2026, 12, 6, 15, 10))
    assert summary.endswith("rating reminders 0, closed unrated 1")
    assert (await run(db, settings, "request_deadlines", bj(2026, 12, 6, 15, 20))).endswith(
        "closed unrated 0"
    )
    async with db.read() as session:
        ticket = (
            await session.scalars(select(RequestTicket).where(RequestTicket.id == filed.ticket_id))
        ).one()
    assert (ticket.state, ticket.outcome, ticket.next_step_at) == (State.CLOSED, "unrated", None)
    assert keys(await sent(db))[-1] == f"request:{filed.ticket_id}:closed"


async def test_photos_downloaded_then_deleted_after_retention(
    db: Database, town: RequestCommunity, settings: Settings
) -> None:
    t0 = bj(2026, 12, 3, 10)
    filed = await file(db, t0, reporter(1), "3号楼垃圾没人清运", category="环境卫生")
    assert await db.run(lambda s: add_photo(s, t0, filed.ticket_id, "m-1"))
    assert await db.run(lambda s: add_photo(s, t0, filed.ticket_id, "m-2"))
    assert not await db.run(lambda s: add_photo(s, t0, filed.ticket_id, "m-1"))  # already kept
    gateway = FakeGateway({"m-1": b"jpeg-1"})
    assert (
        await run(db, settings, "request_photos", t0, gateway) == "stored 1, expired 0, waiting 1, deleted 0"
    )
    path = settings.data_dir / f"requests/{filed.ticket_id}/1.jpg"
    assert path.read_bytes() == b"jpeg-1"
    assert await run(db, settings, "request_photos", t0 + timedelta(days=4), gateway) == (
        "stored 0, expired 1, waiting 0, deleted 0"
    )
    assert gateway.calls == ["m-1", "m-2", "m-2"]
    assert await run(db, settings, "request_photos", t0 + timedelta(days=31), gateway) == (
        "stored 0, expired 0, waiting 0, deleted 1"
    )
    assert not path.exists()
    async with db.read() as session:
        statuses = (await session.scalars(select(RequestPhoto.status).order_by(RequestPhoto.seq))).all()
    assert list(statuses) == ["deleted", "expired"]
