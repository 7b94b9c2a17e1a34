"""Answering an invitation (参加 / 请假), the sign-in code and signing in, the secretary's 补签, the close of
the sign-in window, and 补学 (making up the study) for whoever was not there.

Results are small enums and dataclasses; the handler picks the words. Every state change is one function
over a synchronous Session, so chat, jobs and the console share it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.domain.theme_day import Schedule, Window, invite
from models import Attendance, Event, EventStatus, Invitation, SignInCode

# Points awarded by bot.domain.points, called through this hook so this module stays independent of how
# points are kept: award(session, member_id, reason, key, now) -> bool.
Award = Callable[[Session, int, str, str, datetime], bool]


def _no_points(session: Session, member_id: int, reason: str, key: str, now: datetime) -> bool:
    return False


def code_hash(code: str) -> str:
    return hashlib.sha256(f"partybot-sign-in:{code}".encode()).hexdigest()


# --- answering ---------------------------------------------------------------------------------------


def open_invitations(session: Session, member_id: int, now: datetime) -> list[tuple[Invitation, Event]]:
    """The member's invitations to events still to come, soonest first."""
    return [
        (inv, event)
        for inv, event in session.execute(
            select(Invitation, Event)
            .join(Event, Event.id == Invitation.event_id)
            .where(
                Invitation.member_id == member_id,
                Event.status == EventStatus.PLANNED.value,
                Event.starts_at > now,
            )
            .order_by(Event.starts_at)
        )
    ]


def unanswered(session: Session, member_id: int, now: datetime) -> Event | None:
    """The soonest event still to come that the member was invited to and has not answered: a bare 1 or 2
    answers it."""
    for inv, event in open_invitations(session, member_id, now):
        if inv.answer is None:
            return event
    return None


async def has_unanswered(session: AsyncSession, member_id: int, now: datetime) -> bool:
    """`unanswered` for the message path: one indexed read, through the async session."""
    found = await session.scalar(
        select(Invitation.id)
        .join(Event, Event.id == Invitation.event_id)
        .where(
            Invitation.member_id == member_id,
            Invitation.answer.is_(None),
            Event.status == EventStatus.PLANNED.value,
            Event.starts_at > now,
        )
        .limit(1)
    )
    return found is not None


@dataclass(frozen=True, slots=True)
class Answered:
    event: Event | None  # None: nothing to answer
    answer: str = ""
    changed: bool = False  # they had answered otherwise before


def answer(
    session: Session,
    member_id: int,
    what: str,
    reason: str | None,
    now: datetime,
    early: Event | None = None,
) -> Answered:
    """参加 (`yes`) or 请假 (`leave`, with a reason) for the soonest open invitation. `early`: the member's
    branch's coming theme day, which they may answer before its first notice has invited them (they saw it
    with 主题党日)."""
    found = open_invitations(session, member_id, now)
    coming = early is not None and early.status == EventStatus.PLANNED.value and early.starts_at > now
    if not found and early is not None and coming:
        invite(session, early, [member_id], now)
        found = open_invitations(session, member_id, now)
    if not found:
        return Answered(None)
    # The soonest one they have not answered yet, else the soonest.
    inv, event = next(((i, e) for i, e in found if i.answer is None), found[0])
    changed = inv.answer is not None and inv.answer != what
    inv.answer = what
    inv.reason = (reason or "").strip()[:200] or None if what == "leave" else None
    inv.answered_at = now
    return Answered(event, what, changed)


# --- the sign-in code --------------------------------------------------------------------------------


class CodeRefusal(StrEnum):
    NO_EVENT = "no_event"  # nothing of theirs today
    NOT_YET = "not_yet"
    OVER = "over"


@dataclass(frozen=True, slots=True)
class CodeIssued:
    event: Event | None
    code: str = ""
    refusal: CodeRefusal | None = None
    window: Window | None = None


def events_of_unit(session: Session, unit_id: int, now: datetime, schedule: Schedule) -> list[Event]:
    """The unit's planned events of the day around `now` (started at most the window's length ago or
    starting within a day), soonest first."""
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.unit_id == unit_id,
                Event.status == EventStatus.PLANNED.value,
                Event.starts_at > now - schedule.sign_in_after - schedule.sign_in_before,
            )
            .order_by(Event.starts_at)
        )
    )


def issue_code(
    session: Session, unit_id: int, member_id: int | None, now: datetime, schedule: Schedule
) -> CodeIssued:
    """A new 4-digit code for the unit's event whose sign-in window is open now (replacing an earlier one),
    unique among the events open at the same time."""
    events = events_of_unit(session, unit_id, now, schedule)
    current = next((e for e in events if schedule.window(e).contains(now)), None)
    if current is None:
        if not events:
            return CodeIssued(None, refusal=CodeRefusal.NO_EVENT)
        first = events[0]
        window = schedule.window(first)
        refusal = CodeRefusal.NOT_YET if now < window.opens else CodeRefusal.OVER
        return CodeIssued(first, refusal=refusal, window=window)
    taken = set(_open_code_hashes(session, now, schedule))
    for _ in range(100):
        code = f"{secrets.randbelow(10000):04d}"
        if code_hash(code) not in taken:
            break
    session.execute(delete(SignInCode).where(SignInCode.event_id == current.id))
    session.add(
        SignInCode(event_id=current.id, code_hash=code_hash(code), created_by=member_id, created_at=now)
    )
    return CodeIssued(current, code=code, window=schedule.window(current))


def _open_code_hashes(session: Session, now: datetime, schedule: Schedule) -> list[str]:
    rows = session.execute(
        select(SignInCode.code_hash, Event)
        .join(Event, Event.id == SignInCode.event_id)
        .where(
            Event.status == EventStatus.PLANNED.value,
            Event.starts_at > now - schedule.sign_in_after,
            Event.starts_at < now + schedule.sign_in_before,
        )
    )
    return [h for h, event in rows if schedule.window(event).contains(now)]


# --- signing in --------------------------------------------------------------------------------------


class SignIn(StrEnum):
    DONE = "done"
    ALREADY = "already"
    WRONG_CODE = "wrong_code"
    OTHER_EVENT = "other_event"  # a code of an event they were not invited to
    NOT_YET = "not_yet"
    OVER = "over"
    NO_EVENT = "no_event"


@dataclass(frozen=True, slots=True)
class SignedIn:
    result: SignIn
    event: Event | None = None
    at: datetime | None = None
    window: Window | None = None
    points: bool = False


def sign_in(
    session: Session,
    member_id: int,
    code: str,
    now: datetime,
    schedule: Schedule,
    *,
    how: str = "code",
    award: Award = _no_points,
) -> SignedIn:
    """Sign a member in with their event's code. Only for the member themself: the code names the event,
    the sender's binding names the member."""
    mine = [
        (inv, event)
        for inv, event in session.execute(
            select(Invitation, Event)
            .join(Event, Event.id == Invitation.event_id)
            .where(
                Invitation.member_id == member_id,
                Event.status != EventStatus.CANCELLED.value,
                Event.starts_at > now - schedule.sign_in_after - schedule.sign_in_before,
                Event.starts_at < now + schedule.sign_in_before + schedule.sign_in_after,
            )
            .order_by(Event.starts_at)
        )
    ]
    open_now = [
        e for _, e in mine if e.status == EventStatus.PLANNED.value and schedule.window(e).contains(now)
    ]
    hashed = code_hash(code)
    for event in open_now:
        if session.scalar(
            select(SignInCode.id).where(SignInCode.event_id == event.id, SignInCode.code_hash == hashed)
        ):
            return record_attendance(session, event, member_id, how, now, None, award=award)
    other = [h for h in _open_code_hashes(session, now, schedule) if h == hashed]
    if other:
        return SignedIn(SignIn.OTHER_EVENT)
    if open_now:
        already = session.scalar(
            select(Attendance.at).where(
                Attendance.event_id == open_now[0].id, Attendance.member_id == member_id
            )
        )
        if already is not None:
            return SignedIn(SignIn.ALREADY, open_now[0], at=already)
        return SignedIn(SignIn.WRONG_CODE, open_now[0])
    if mine:
        event = mine[0][1]
        window = schedule.window(event)
        if now < window.opens:
            return SignedIn(SignIn.NOT_YET, event, window=window)
        return SignedIn(SignIn.OVER, event, window=window)
    return SignedIn(SignIn.NO_EVENT)


def record_attendance(
    session: Session,
    event: Event,
    member_id: int,
    how: str,
    now: datetime,
    recorded_by: int | None,
    *,
    award: Award = _no_points,
) -> SignedIn:
    """One attendance row per member and event (a second sign-in is refused), and its points."""
    already = session.scalar(
        select(Attendance.at).where(Attendance.event_id == event.id, Attendance.member_id == member_id)
    )
    if already is not None:
        return SignedIn(SignIn.ALREADY, event, at=already)
    session.add(Attendance(event_id=event.id, member_id=member_id, how=how, recorded_by=recorded_by, at=now))
    invited = session.scalar(
        select(Invitation).where(Invitation.event_id == event.id, Invitation.member_id == member_id)
    )
    if invited is None:
        session.add(Invitation(event_id=event.id, member_id=member_id, created_at=now))
    session.flush()
    points = award(session, member_id, "theme_day_sign_in", f"theme_day:{event.id}:{member_id}:sign_in", now)
    return SignedIn(SignIn.DONE, event, at=now, points=points)


# --- 补签 by the secretary ----------------------------------------------------------------------------


def recent_event_of_unit(session: Session, unit_id: int, now: datetime, schedule: Schedule) -> Event | None:
    """The unit's latest event whose sign-in has opened (this one or the last one closed), for 补签."""
    return session.scalar(
        select(Event)
        .where(
            Event.unit_id == unit_id,
            Event.status != EventStatus.CANCELLED.value,
            Event.starts_at <= now + schedule.sign_in_before,
        )
        .order_by(Event.starts_at.desc())
        .limit(1)
    )


# --- 补学 -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MadeUp:
    event: Event | None
    points: bool = False


def pending_make_up(session: Session, member_id: int) -> tuple[Invitation, Event] | None:
    """The oldest 补学 sent to the member and not confirmed yet."""
    row = session.execute(
        select(Invitation, Event)
        .join(Event, Event.id == Invitation.event_id)
        .where(
            Invitation.member_id == member_id,
            Invitation.make_up_sent_at.is_not(None),
            Invitation.made_up_at.is_(None),
        )
        .order_by(Event.starts_at)
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else None


def confirm_make_up(session: Session, member_id: int, now: datetime, *, award: Award = _no_points) -> MadeUp:
    found = pending_make_up(session, member_id)
    if found is None:
        return MadeUp(None)
    inv, event = found
    inv.made_up_at = now
    points = award(session, member_id, "make_up", f"theme_day:{event.id}:{member_id}:make_up", now)
    return MadeUp(event, points)
