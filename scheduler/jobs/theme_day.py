"""The theme day's monthly cycle as of a moment: this month's and next month's events exist for every unit
that holds one; the notice due for each coming event is written (a week before, the day before, the
morning); events whose sign-in window has closed are closed (summary to the secretary, 补学 to whoever was
not there); from the 28th, each community's secretaries hear once which units below have not held theirs
or kept no record. Idempotent: running it twice as of the same moment writes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.meetings import attendees
from bot.domain.theme_day import (
    Schedule,
    due_notice,
    ensure_theme_days,
    holding_units,
    load_units,
    month_of,
    next_month,
)
from bot.outbound.event_notices import Words, close_event, community_check, event_notice
from models import Event, EventKind, EventStatus, Invitation, Notice
from scheduler.jobs.base import JobDeps

CHECK_DAY = 28


async def theme_day(deps: JobDeps, now: datetime) -> str:
    schedule = Schedule.of(deps.settings)
    words = Words(deps.content, schedule)
    month = month_of(schedule.local(now).date())
    created = 0
    for m in (month, next_month(month)):
        created += await deps.db.run(partial(_ensure, month=m, now=now, schedule=schedule, deps=deps))
    due = await deps.db.run(lambda session: _due(session, now, schedule))
    notices = 0
    for event_id, kind, member_ids in due:
        notices += await deps.db.run(
            partial(_notify, event_id=event_id, kind=kind, member_ids=member_ids, now=now, words=words)
        )
    closing = await deps.db.run(lambda session: _closing(session, now, schedule))
    for event_id in closing:
        await deps.db.run(partial(_close, event_id=event_id, now=now, words=words))
    checked = 0
    if schedule.local(now).day >= CHECK_DAY:
        checked = await deps.db.run(lambda session: community_check(session, month, now, words))
    return f"events created {created}, notices {notices}, closed {len(closing)}, community checks {checked}"


def _ensure(session: Session, *, month: str, now: datetime, schedule: Schedule, deps: JobDeps) -> int:
    return ensure_theme_days(session, month, now, schedule, deps.holidays)


def _due(session: Session, now: datetime, schedule: Schedule) -> list[tuple[int, str, tuple[int, ...]]]:
    """(event, notice kind, its members) for every planned event within a week whose due notice has not
    reached every member it should (the notice is missing, or someone joined since). The members are worked
    out here once for all events (the tree read once), not again per event."""
    events = list(
        session.scalars(
            select(Event).where(
                Event.status == EventStatus.PLANNED.value,
                Event.starts_at > now,
                Event.starts_at <= now + timedelta(days=8),
            )
        )
    )
    wanted = [(e, kind) for e in events if (kind := due_notice(e, schedule, now)) is not None]
    if not wanted:
        return []
    keys = {f"theme_day:{e.id}:{kind}" for e, kind in wanted}
    written = {
        str(author): int(i)
        for author, i in session.execute(
            select(Notice.author, Notice.id).where(Notice.kind == "system", Notice.author.in_(keys))
        )
    }
    units = load_units(session)
    members = holding_units(session, units)
    invited: dict[int, set[int]] = {}
    for event_id, member_id in session.execute(
        select(Invitation.event_id, Invitation.member_id).where(
            Invitation.event_id.in_([e.id for e, _ in wanted])
        )
    ):
        invited.setdefault(int(event_id), set()).add(int(member_id))
    found = []
    for event, kind in wanted:
        # A meeting called with 发起活动 (a 支部委员会: the committee only) has its own attendees.
        expected = tuple(
            members.get(event.unit_id, ())
            if event.kind == EventKind.THEME_DAY.value
            else attendees(session, units, event)
        )
        new = set(expected) - invited.get(event.id, set())
        if f"theme_day:{event.id}:{kind}" not in written or new:
            found.append((event.id, kind, expected))
    return found


def _notify(
    session: Session, *, event_id: int, kind: str, member_ids: tuple[int, ...], now: datetime, words: Words
) -> int:
    event = session.get(Event, event_id)
    if event is None or event.status != EventStatus.PLANNED.value:
        return 0
    event_notice(session, event, kind, now, words, member_ids=member_ids)
    return 1


def _closing(session: Session, now: datetime, schedule: Schedule) -> list[int]:
    return [
        int(event.id)
        for event in session.scalars(
            select(Event).where(
                Event.status == EventStatus.PLANNED.value,
                Event.starts_at <= now - schedule.sign_in_after,
            )
        )
    ]


def _close(session: Session, *, event_id: int, now: datetime, words: Words) -> None:
    event = session.get(Event, event_id)
    if event is None or event.status != EventStatus.PLANNED.value:
        return
    if session.scalar(select(Invitation.id).where(Invitation.event_id == event.id).limit(1)) is None:
        # Nobody was invited (it was past when partybot started): closed without a summary or 补学.
        event.status, event.closed_at, event.updated_at = EventStatus.CLOSED.value, now, now
        return
    close_event(session, event, now, words)
