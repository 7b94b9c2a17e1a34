"""The dashboard's kept figures (bot/console/dashboard.py's SectionCache, bot/console/changes.py's Tracker)
follow every kind of change: after each change below, every section of every scope, as kept by one cache
that has seen the figures before, equals what a new cache counts from nothing — a payment, a base, a
member moved to another branch or leaving, a ledger row that commits after a later one, a ticket filed,
taken and rated, a sign-in, a report-in, a unit renamed. And a change recounts only its own part: a
payment recounts one unit's members, not the street's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.app import CONSOLE, CONTENT, SETTINGS
from bot.clock import FixedClock
from bot.console import dashboard
from bot.console.deps import SECTIONS
from bot.domain import dues, mobile
from bot.domain.dues_ledger import Recorder, declare_base, pay_months
from bot.domain.request_core import OUTCOMES, State
from bot.outbound import notice_reach
from bot.outbound.notices import Audience, enqueue_announcement, preview
from models import (
    Attendance,
    DuesEntry,
    Event,
    Member,
    OrgUnit,
    OutboxRow,
    RequestRating,
    RequestTicket,
)
from models.db import Database
from tests.community import BRANCH1, BRANCH2, COMMUNITY, GROUP1, STREET, seed, theme_days
from tests.conftest import T0, AppFactory
from tests.console import get, log_in, login_page
from tests.helpers import services
from tests.request_seed import RequestCommunity, file, reporter, seed_requests

MONTH = "2026-11"
SCOPES = ("", STREET, COMMUNITY, BRANCH1, GROUP1, BRANCH2)
OPTIONS = dashboard.Options(dues_start="2026-06", timezone="Asia/Shanghai", rounding="half_up")


class Kept:
    """Two caches that have seen the figures before: one viewing the street first (every unit counted at
    once), one viewing a branch first and the street last (units counted as scopes need them)."""

    def __init__(self) -> None:
        self.caches = [(dashboard.SectionCache(), SCOPES), (dashboard.SectionCache(), SCOPES[::-1])]


async def same_as_new(db: Database, kept: Kept, after: str) -> None:
    """Every section of every scope, from each kept cache, equals a new cache's count."""
    months = dashboard.trend_months(MONTH)

    def compare(session: Session) -> None:
        for cache, scopes in kept.caches:
            for unit in scopes:
                for section in dashboard.PARTS:
                    found = cache.part(session, section, unit, months, OPTIONS)
                    fresh = dashboard.SectionCache().part(session, section, unit, months, OPTIONS)
                    assert found == fresh, (after, section, unit, scopes[0])

    await db.run(compare)


def count_units(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The units each call of dues.unit_counts counts (None: every unit), as the calls come."""
    counted: list[object] = []
    real = dues.unit_counts

    def spy(
        session: Session,
        months: Sequence[str],
        unit_ids: Sequence[int] | None = None,
        *,
        start: str,
        rounding: str,
    ) -> tuple[dict[int, dict[str, list[int]]], dict[int, int]]:
        counted.append(unit_ids)
        return real(session, months, unit_ids, start=start, rounding=rounding)

    monkeypatch.setattr(dues, "unit_counts", spy)
    return counted


def recorder(session: Session, clock: FixedClock) -> Recorder:
    start = dues.start_month(session, OPTIONS.dues_start, OPTIONS.timezone)
    return Recorder(by=None, now=clock.now(), source="test", start=start, timezone=OPTIONS.timezone)


async def setup(db: Database, clock: FixedClock) -> RequestCommunity:
    place = await seed_requests(db)
    people = place.community
    now = clock.now()

    def facts(session: Session) -> None:
        session.execute(update(Member).values(dues_base_fen=300000))
        which = [(MONTH, BRANCH1), (dues.add_months(MONTH, -1), BRANCH1), (MONTH, BRANCH2)]
        theme_days(session, people.units, now, which)

    await db.run(facts)
    await file(db, now, reporter(1), "1号楼楼道灯坏了")
    await file(db, now - timedelta(days=31), reporter(3), "2号楼电梯异响")
    return place


async def test_kept_figures_follow_every_kind_of_change(database_url: str, clock: FixedClock) -> None:
    db = Database(database_url)
    try:
        place = await setup(db, clock)
        ids, units = place.community.ids, place.community.units
        # The seed's stamps out of the time window (the first change after a roster import recounts every
        # member it stamped), so that each change below is found on its own.
        clock.advance(3600)
        touched = update(Member).where(Member.id == ids["YX-001"]).values(updated_at=clock.now())
        await db.run(lambda s: s.execute(touched))
        cache = Kept()
        await same_as_new(db, cache, "the first count")
        await same_as_new(db, cache, "nothing changed")
        now = clock.now()

        def run(change: Callable[[Session], object]) -> Awaitable[object]:
            return db.run(change)

        # A payment for this month, and one for two months back (its unpaid run changes later months).
        await run(lambda s: pay_months(s, ids["YX-004"], [MONTH], recorder(s, clock)))
        await same_as_new(db, cache, "a payment")
        await run(lambda s: pay_months(s, ids["YX-013"], [dues.add_months(MONTH, -2)], recorder(s, clock)))
        await same_as_new(db, cache, "a payment two months back")
        # A base declared (a new amount from this month).
        base = "declared"
        await run(
            lambda s: declare_base(
                s, ids["YX-009"], 500000, now, by=None, source=base, timezone=OPTIONS.timezone
            )
        )
        await same_as_new(db, cache, "a base declared")
        # A member moved to the other branch: both branches change.
        clock.advance(1)
        moved = update(Member).where(Member.id == ids["YX-009"])
        await run(lambda s: s.execute(moved.values(unit_id=units[BRANCH2], updated_at=clock.now())))
        await same_as_new(db, cache, "a member moved")
        # A member leaving (inactive): no longer counted anywhere.
        clock.advance(1)
        left = update(Member).where(Member.id == ids["YX-006"])
        await run(lambda s: s.execute(left.values(active=False, updated_at=clock.now())))
        await same_as_new(db, cache, "a member left")

        # A ledger row that commits after a later one was seen (PostgreSQL's ids are handed out at
        # insert): a later row first, with a gap below it, then the row in the gap.
        def entry(member: str, entry_id: int) -> Callable[[Session], None]:
            def add(session: Session) -> None:
                session.add(
                    DuesEntry(
                        id=entry_id,
                        member_id=ids[member],
                        unit_id=session.scalar(select(Member.unit_id).where(Member.id == ids[member])),
                        month=MONTH,
                        kind="payment",
                        amount_fen=100,
                        source="test",
                        created_at=now,
                    )
                )

            return add

        top = await db.run(lambda s: int(s.scalar(select(func.max(DuesEntry.id))) or 0))
        await run(entry("YX-002", top + 5))
        await same_as_new(db, cache, "a later ledger row")
        await run(entry("YX-003", top + 2))  # below the top the cache saw
        await same_as_new(db, cache, "the row below it")

        # A ticket filed, taken, solved, rated; one of last month rated too.
        filed = await file(db, now, reporter(2), "5号楼门口积水")
        await same_as_new(db, cache, "a ticket filed")
        clock.advance(60)
        taken = update(RequestTicket).where(RequestTicket.id == filed.ticket_id)
        await run(
            lambda s: s.execute(taken.values(taken_at=clock.now(), state=State.TAKEN, updated_at=clock.now()))
        )
        await same_as_new(db, cache, "taken")
        clock.advance(60)
        solved = taken.values(solved_at=clock.now(), state=State.SOLVED, updated_at=clock.now())
        await run(lambda s: s.execute(solved))
        await same_as_new(db, cache, "solved")

        def rate(session: Session) -> None:
            for ticket in session.scalars(select(RequestTicket)):
                ticket.outcome = OUTCOMES[1]
                session.add(
                    RequestRating(
                        ticket_id=ticket.id,
                        openid=ticket.reporter_openid,
                        rating=1,
                        rated_at=clock.now(),
                        updated_at=clock.now(),
                    )
                )

        await run(rate)
        await same_as_new(db, cache, "rated")

        # A sign-in at this month's theme day, and a report-in.
        def sign_in(session: Session) -> None:
            event = session.scalar(select(Event).where(Event.unit_id == units[BRANCH2], Event.month == MONTH))
            assert event is not None
            session.add(Attendance(event_id=event.id, member_id=ids["YX-012"], how="code", at=clock.now()))

        await run(sign_in)
        await same_as_new(db, cache, "a sign-in")
        zone = ZoneInfo(OPTIONS.timezone)
        await run(lambda s: mobile.report_in(s, ids["YX-007"], clock.now(), zone, text="在上海"))
        await same_as_new(db, cache, "a report-in")

        # A unit renamed: its path changes, and every scope under it.
        clock.advance(1)
        renamed = update(OrgUnit).where(OrgUnit.id == units[GROUP1])
        await run(lambda s: s.execute(renamed.values(name="一号楼党小组", updated_at=clock.now())))
        await same_as_new(db, cache, "a unit renamed")
    finally:
        await db.dispose()


async def test_a_payment_recounts_only_its_unit(
    database_url: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(database_url)
    try:
        place = await setup(db, clock)
        ids = place.community.ids
        cache = dashboard.SectionCache()
        months = dashboard.trend_months(MONTH)
        counted = count_units(monkeypatch)
        await db.run(lambda s: cache.part(s, "dues", "", months, OPTIONS))
        await db.run(lambda s: cache.part(s, "dues", "", months, OPTIONS))
        assert counted == [None]  # everything once, then nothing
        await db.run(lambda s: pay_months(s, ids["YX-004"], [MONTH], recorder(s, clock)))
        await db.run(lambda s: cache.part(s, "dues", COMMUNITY, months, OPTIONS))
        assert counted == [None, [place.community.units[GROUP1]]]
    finally:
        await db.dispose()


async def test_the_login_page_counts_the_dashboard_in_the_background(
    make_client: AppFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first login page of a process starts counting this month's figures (PARTYBOT_CONSOLE_WARM), so the
    secretary's first dashboard, once they have logged in, reads them instead of counting."""
    client = await make_client(console_warm=True, dues_start_month=OPTIONS.dues_start)
    db = services(client).db
    await setup(db, clock)
    counted = count_units(monkeypatch)
    await login_page(client)
    assert client.app is not None
    cache = client.app[CONSOLE][SECTIONS]
    assert isinstance(cache.warming, asyncio.Task)
    await cache.warming
    assert counted == [None]  # every unit, once
    await login_page(client)  # a second visit starts nothing more
    await log_in(client, clock, "o-YX-001")
    resp, html = await get(client, "/console/")
    assert resp.status == 200 and 'id="dues"' in html
    assert counted == [None]  # the dashboard read what the warm-up counted


async def test_a_survey_does_not_hold_back_writes(database_url: str) -> None:
    """The dashboard counts through `Database.survey`. On SQLite, while one is still reading, a write
    commits (the survey has its own read-only connection and thread, not the one writer's), and a write
    inside a survey is refused. (On PostgreSQL a survey is a pooled connection's read, which MVCC never
    makes a writer wait for; its function runs on the event loop, so it cannot be held open here.) On both,
    a survey reads what was committed and leaves nothing behind."""
    db = Database(database_url)
    now = T0

    def write(session: Session) -> None:
        session.add(
            OrgUnit(path="测试党委", name="测试党委", kind="党委", depth=0, created_at=now, updated_at=now)
        )
        session.flush()

    def units(session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(OrgUnit)) or 0)

    try:
        if db.is_sqlite:
            reading, release = threading.Event(), threading.Event()

            def long_read(session: Session) -> int:
                found = units(session)
                reading.set()
                assert release.wait(10)  # still reading while the write below commits
                return found

            survey = asyncio.ensure_future(db.survey(long_read))
            assert await asyncio.get_running_loop().run_in_executor(None, reading.wait, 10)
            await asyncio.wait_for(db.run(write), timeout=5)  # not behind the survey
            release.set()
            assert await survey == 0  # its snapshot began before the write
            with pytest.raises(OperationalError):
                await db.survey(write)
        else:
            await db.run(write)
        assert await db.survey(units) == 1

        if not db.is_sqlite:  # SQLite's survey refuses writes (above); PostgreSQL's rolls them back

            def added_and_read(session: Session) -> int:
                session.add(
                    OrgUnit(path="另一党委", name="另一党委", kind="党委", created_at=now, updated_at=now)
                )
                session.flush()
                return units(session)

            assert await db.survey(added_and_read) == 2
            assert await db.survey(units) == 1  # nothing a survey did stays
    finally:
        await db.dispose()


async def test_a_settled_notice_is_counted_again_only_hourly(
    make_client: AppFactory, clock: FixedClock
) -> None:
    """The notices section keeps a notice's counts once it has settled (written three days ago) and counts
    it again after an hour; a younger notice is counted on every view, so its delivery shows at once."""
    client = await make_client()
    assert client.app is not None
    db, content, settings = services(client).db, client.app[CONTENT], client.app[SETTINGS]
    await seed(db, bind=("YX-001", "YX-002", "YX-004"))
    now = clock.now()
    audience = Audience(COMMUNITY)

    async def announce(at: datetime, text: str) -> int:
        found = await preview(db, content, audience, at, settings, text=text)
        return await enqueue_announcement(
            db, at, text=text, audience=audience, label=found.label, author="member:YX-001",
            author_openid="o-YX-001", recipients=found.recipients,
        )  # fmt: skip

    old = await announce(now - timedelta(days=5), "通知：上周的会议纪要已发布。")
    new = await announce(now, "通知：周六开展志愿服务。")
    asked: list[set[int]] = []
    real = notice_reach.notice_counts

    def spy(session: Session, notices: dict[int, datetime]) -> object:
        asked.append(set(notices))
        return real(session, notices)

    months = dashboard.trend_months(MONTH)
    cache = dashboard.SectionCache()

    def view(at: datetime) -> Callable[[Session], tuple[object, object]]:
        def run(session: Session) -> tuple[object, object]:
            kept = cache.part(session, "notices", COMMUNITY, months, OPTIONS, at)
            return kept, dashboard.SectionCache().part(session, "notices", COMMUNITY, months, OPTIONS)

        return run

    def deliver(notice_id: int) -> Callable[[Session], object]:
        rows = update(OutboxRow).where(OutboxRow.notice_id == notice_id)
        return lambda s: s.execute(rows.values(status="sent", channel="template", updated_at=now))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(notice_reach, "notice_counts", spy)
        kept, fresh = await db.survey(view(now))  # each view: the kept cache's count, then a new one's
        assert kept == fresh and asked[-2] == {old, new}
        await db.survey(view(now))
        assert asked[-2] == set()  # both from what was kept
        await db.run(deliver(new))
        kept, fresh = await db.survey(view(now + timedelta(seconds=10)))
        assert asked[-2] == set() and kept != fresh  # a young notice's delivery: within 30 s
        kept, fresh = await db.survey(view(now + timedelta(seconds=31)))
        assert asked[-2] == {new} and kept == fresh
        await db.run(deliver(old))
        kept, fresh = await db.survey(view(now + timedelta(minutes=30)))
        assert asked[-2] == {new} and kept != fresh  # a settled one's late change: within the hour
        kept, fresh = await db.survey(view(now + timedelta(minutes=61)))
        assert asked[-2] == {old, new} and kept == fresh
