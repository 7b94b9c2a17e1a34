"""The other meetings of 三会一课 (支部委员会, 党小组会, 支部党员大会, 党课), called by a secretary with
`发起活动`: the same Event as the theme day (bot.domain.theme_day), with no key, created for the
secretary's unit; who attends; whether a time is usable. After that the theme day's machinery carries it:
the reminders, the sign-in window, its close with the summary, the record.

Functions take a synchronous Session and return plain data; no words.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.identity import Unit
from bot.domain.theme_day import members_of, month_of
from models import Event, EventKind, EventStatus, Member

# The kinds a secretary calls, in the order they are offered (numbered 1 to 4).
MEETING_KINDS: tuple[EventKind, ...] = (
    EventKind.COMMITTEE,
    EventKind.GROUP,
    EventKind.GENERAL,
    EventKind.LECTURE,
)
# Who sits on a branch's committee (支部委员会).
COMMITTEE_POSTS = frozenset({"书记", "副书记", "委员"})
LIMITS = {"topic": (2, 100), "place": (2, 100)}


def attendees(session: Session, units: Mapping[int, Unit], event: Event) -> list[int]:
    """Who is invited to an event: the unit's members (those who attend its events); for a 支部委员会 only
    its committee (书记, 副书记, 委员)."""
    return attendees_of(session, units, event.unit_id, event.kind)


def attendees_of(session: Session, units: Mapping[int, Unit], unit_id: int, kind: str) -> list[int]:
    if unit_id not in units:
        return []
    members = members_of(session, units, unit_id)
    if kind != EventKind.COMMITTEE.value or not members:
        return members
    posts = session.execute(select(Member.id, Member.post).where(Member.id.in_(members)))
    committee = {int(m) for m, post in posts if (post or "") in COMMITTEE_POSTS}
    return [m for m in members if m in committee]


class TimeProblem(StrEnum):
    UNREADABLE = "unreadable"
    PAST = "past"


def check_time(when: datetime | None, now: datetime) -> TimeProblem | None:
    if when is None:
        return TimeProblem.UNREADABLE
    if when <= now:
        return TimeProblem.PAST
    return None


def text_ok(field: str, text: str) -> bool:
    low, high = LIMITS[field]
    return low <= len(text) <= high


def create_meeting(
    session: Session,
    *,
    kind: str,
    unit_id: int,
    topic: str,
    starts_at: datetime,
    place: str,
    created_by: int | None,
    now: datetime,
    zone: ZoneInfo,
) -> Event:
    """The meeting, planned; its month is that of its local date. The caller invites and notifies."""
    if kind not in {k.value for k in MEETING_KINDS}:
        raise ValueError(f"not a meeting a secretary calls: {kind}")
    event = Event(
        key=None,
        kind=kind,
        unit_id=unit_id,
        month=month_of(starts_at.astimezone(zone).date()),
        planned_date=None,
        moved_for=None,
        date_fixed=True,
        starts_at=starts_at.astimezone(UTC),
        topic=topic,
        text="",
        place=place,
        status=EventStatus.PLANNED.value,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(event)
    session.flush()
    return event
