"""The theme day's monthly cycle as of a moment: this month's and next month's events exist for every unit
that holds one; the notice due for each coming event is written (a week before, the day before, the
morning); events whose sign-in window has closed are closed (summary to the secretary, 补学 to whoever was
not there); from the 28th, each community's secretaries hear once which units below have not held theirs
or kept no record. Idempotent: running it twice as of the same moment writes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.identity import Unit
from bot.domain.meetings import attendees
from bot.domain.theme_day import (
    Holders,
    Schedule,
    due_notice,
    ensure_theme_days,
    load_units,
    month_of,
    next_month,
)
from bot.outbound.event_notices import Words, close_event, community_check, event_notice
from models import Event, EventKind, EventStatus, Invitation, Notice
from scheduler.jobs.base import JobDeps

CHECK_DAY = 28


BATCH = 50  # events per transaction when writing notices: few commits, and memory for 50 events at a time


async def theme_day(deps: JobDeps, now: datetime) -> str:
    schedule = Schedule.of(deps.settings)
    words = Words(deps.content, schedule)
    month = month_of(schedule.local(now).date())
    # The tree, read once: which unit holds each unit's theme day. Members are read per event.
    units = await deps.db.run(load_units)
    holders = Holders.of(units)
    created = 0
    for m in (month, next_month(month)):
        created += await deps.db.run(
            partial(_ensure, month=m, now=now, schedule=schedule, deps=deps, units=units, holders=holders)
        )
    coming = await deps.db.run(lambda session: _coming(session, now, schedule))
    notices = 0
    for start in range(0, len(coming), BATCH):
        batch = coming[start : start + BATCH]
        notices += await deps.db.run(
            partial(_notify, batch=batch, units=units, holders=holders, now=now, words=words)
        )
    closing = await deps.db.run(lambda session: _closing(session, now, schedule))
    for event_id in closing:
        await deps.db.run(partial(_close, event_id=event_id, now=now, words=words))
    checked = 0
    if schedule.local(now).day >= CHECK_DAY:
        checked = await deps.db.run(lambda session: community_check(session, month, now, words))
    return f"events created {created}, notices {notices}, closed {len(closing)}, community checks {checked}"


def _ensure(
    session: Session,
    *,
    month: str,
    now: datetime,
    schedule: Schedule,
    deps: JobDeps,
    units: Mapping[int, Unit],
    holders: Holders,
) -> int:
    return ensure_theme_days(
        session, month, now, schedule, deps.holidays, units=units, holder_ids=holders.holding(session)
    )


def _coming(session: Session, now: datetime, schedule: Schedule) -> list[tuple[int, str]]:
    """(event, the notice due for it) for every planned event within a week that has a notice due."""
    events = session.scalars(
        select(Event).where(
            Event.status == EventStatus.PLANNED.value,
            Event.starts_at > now,
            Event.starts_at <= now + timedelta(days=8),
        )
    )
    return [(e.id, kind) for e in events if (kind := due_notice(e, schedule, now)) is not None]


def _notify(
    session: Session,
    *,
    batch: list[tuple[int, str]],
    units: Mapping[int, Unit],
    holders: Holders,
    now: datetime,
    words: Words,
) -> int:
    """Write each event's due notice unless it has reached every member it should already (it was written,
    and nobody joined since). Returns how many events got a notice or an extension of one."""
    keys = [f"theme_day:{event_id}:{kind}" for event_id, kind in batch]
    written = set(
        session.scalars(select(Notice.author).where(Notice.kind == "system", Notice.author.in_(keys)))
    )
    sent = 0
    for event_id, kind in batch:
        event = session.get(Event, event_id)
        if event is None or event.status != EventStatus.PLANNED.value:
            continue
        # A meeting called with 发起活动 (a 支部委员会: the committee only) has its own attendees.
        expected = (
            holders.members(session, event.unit_id)
            if event.kind == EventKind.THEME_DAY.value
            else attendees(session, units, event)
        )
        if f"theme_day:{event.id}:{kind}" in written:
            invited = set(
                session.scalars(select(Invitation.member_id).where(Invitation.event_id == event.id))
            )
            if invited.issuperset(expected):
                continue
        event_notice(session, event, kind, now, words, member_ids=expected)
        sent += 1
    return sent


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
