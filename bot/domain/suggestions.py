"""Members' suggestions (党员资政 / 智慧问政): a bound member's `建议 …` goes to their branch (the nearest
网格党支部 at or above their unit) as `S20261201-0003`; a secretary whose scope holds that branch answers it
(`答复 S… 说明`); the member is told. Notices go out in the same transaction through
`bot.outbound.notices.add_system_notice`, worded by the caller's `say(key, **fields)`.

Functions take a synchronous Session (run them through `Database.run`) and return plain data; no words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from bot.domain import audit
from bot.domain.binding import in_scope
from bot.domain.policy import Action, Identity, scope, within
from bot.outbound.notices import add_system_notice, secretaries_of_unit
from models import Member, OrgUnit, Suggestion, UnitKind

Say = Callable[..., str]

OPEN = "open"
ANSWERED = "answered"
TEXT_LIMITS = (4, 300)  # a suggestion's length in characters
ANSWER_LIMITS = (2, 300)
EXCERPT = 30  # the suggestion, as the answer's notice recalls it
SHANGHAI = ZoneInfo("Asia/Shanghai")
# PostgreSQL: submissions take a transaction-scoped advisory lock, so two in the same moment never read
# the same day's last number (SQLite has one writer anyway).
NUMBER_LOCK = 0x5355_4747  # "SUGG"
_NUMBER = re.compile(r"[sS](\d{8})-?(\d{1,4})")


class Refused(Exception):
    """A suggestion that cannot be filed or answered; `reason`: not_member, not_found, not_yours, own,
    answered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SuggestionView:
    id: int
    number: str
    text: str
    status: str
    answer: str | None
    answered_at: datetime | None
    created_at: datetime
    member_id: int
    member_name: str
    branch_name: str
    notified: int = 0  # for a new suggestion: how many secretaries were told


@dataclass(frozen=True, slots=True)
class OpenPage:
    items: list[SuggestionView]
    total: int


def parse_number(value: str) -> str | None:
    """`S20261201-0003`, `s20261201-3`, `S202612010003` → `S20261201-0003`; None when it is not one."""
    found = _NUMBER.fullmatch(value.strip())
    if found is None:
        return None
    return f"S{found.group(1)}-{int(found.group(2)):04d}"


def branch_of(session: Session, unit_id: int) -> OrgUnit | None:
    """The nearest 网格党支部 at or above a unit; the unit itself when there is none."""
    start = here = session.get(OrgUnit, unit_id)
    while here is not None:
        if here.kind == UnitKind.BRANCH.value:
            return here
        here = session.get(OrgUnit, here.parent_id) if here.parent_id is not None else None
    return start


def _next_number(session: Session, day: str) -> str:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": NUMBER_LOCK})
    prefix = f"S{day}-"
    last = session.scalar(select(func.max(Suggestion.number)).where(Suggestion.number.like(prefix + "%")))
    sequence = int(str(last)[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{sequence:04d}"


def _view(item: Suggestion, member_name: str, branch_name: str, notified: int = 0) -> SuggestionView:
    return SuggestionView(
        id=item.id,
        number=item.number,
        text=item.text,
        status=item.status,
        answer=item.answer,
        answered_at=item.answered_at,
        created_at=item.created_at,
        member_id=item.member_id,
        member_name=member_name,
        branch_name=branch_name,
        notified=notified,
    )


def submit(
    session: Session, now: datetime, member_id: int, text: str, say: Say, *, zone: ZoneInfo = SHANGHAI
) -> SuggestionView:
    """File a member's suggestion for their branch, numbered by the local day, and tell the branch's
    secretaries (the nearest unit at or above the branch that has one; a secretary's own suggestion goes
    to the unit above) at once. The caller checks the text's length (TEXT_LIMITS)."""
    member = session.get(Member, member_id)
    if member is None or not member.active:
        raise Refused("not_member")
    branch = branch_of(session, member.unit_id)
    if branch is None:
        raise Refused("not_member")
    number = _next_number(session, now.astimezone(zone).strftime("%Y%m%d"))
    item = Suggestion(
        number=number,
        member_id=member.id,
        unit_id=branch.id,
        text=text,
        status=OPEN,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    secretaries = secretaries_of_unit(session, branch.id, exclude=member.id)
    add_system_notice(
        session,
        now,
        key=f"suggestion:{item.id}:new",
        text=say("suggestion_new_notice", number=number, name=member.name, branch=branch.name, text=text),
        member_ids=secretaries,
    )
    return _view(item, member.name, branch.name, notified=len(secretaries))


def answer(
    session: Session, now: datetime, identity: Identity, number: str, text: str, say: Say
) -> SuggestionView:
    """A secretary's `答复`: only one whose scope (bot.domain.policy) holds the suggestion's branch, never
    for their own suggestion, once. The member is told in the same transaction."""
    found = session.scalar(select(Suggestion).where(Suggestion.number == number))
    if found is None:
        raise Refused("not_found")
    branch = session.get(OrgUnit, found.unit_id)
    where = scope(identity, Action.ANSWER_SUGGESTIONS)
    if branch is None or not within(branch.path, where):
        raise Refused("not_yours")
    if identity.member_id is not None and identity.member_id == found.member_id:
        raise Refused("own")
    if found.status == ANSWERED:
        raise Refused("answered")
    found.status, found.answer = ANSWERED, text
    found.answered_by = audit.actor_for(openid=identity.openid, member_number=identity.member_number)
    found.answered_at = found.updated_at = now
    member_name = str(session.scalar(select(Member.name).where(Member.id == found.member_id)) or "")
    add_system_notice(
        session,
        now,
        key=f"suggestion:{found.id}:answered",
        text=say(
            "suggestion_answered_notice",
            number=found.number,
            text=found.text if len(found.text) <= EXCERPT else found.text[: EXCERPT - 1] + "…",
            answer=text,
            branch=branch.name,
            by=identity.name or "",
        ),
        member_ids=[found.member_id],
    )
    return _view(found, member_name, branch.name)


def by_number(session: Session, number: str) -> SuggestionView | None:
    row = session.execute(
        select(Suggestion, Member.name, OrgUnit.name)
        .join(Member, Member.id == Suggestion.member_id)
        .join(OrgUnit, OrgUnit.id == Suggestion.unit_id)
        .where(Suggestion.number == number)
    ).first()
    return _view(row[0], str(row[1]), str(row[2])) if row is not None else None


def mine(session: Session, member_id: int, limit: int = 10) -> list[SuggestionView]:
    """A member's own suggestions, newest first, with their status and answer."""
    rows = session.execute(
        select(Suggestion, Member.name, OrgUnit.name)
        .join(Member, Member.id == Suggestion.member_id)
        .join(OrgUnit, OrgUnit.id == Suggestion.unit_id)
        .where(Suggestion.member_id == member_id)
        .order_by(Suggestion.id.desc())
        .limit(limit)
    ).all()
    return [_view(item, str(name), str(branch)) for item, name, branch in rows]


def count_mine(session: Session, member_id: int) -> int:
    return int(
        session.scalar(select(func.count()).select_from(Suggestion).where(Suggestion.member_id == member_id))
        or 0
    )


def open_for(session: Session, scope_path: str | None, offset: int = 0, limit: int = 5) -> OpenPage:
    """The open suggestions of the branches in a scope ("" every unit, None nowhere), oldest first."""
    if scope_path is None:
        return OpenPage([], 0)
    where = (Suggestion.status == OPEN, in_scope(scope_path))
    total = session.scalar(
        select(func.count())
        .select_from(Suggestion)
        .join(OrgUnit, OrgUnit.id == Suggestion.unit_id)
        .where(*where)
    )
    rows = session.execute(
        select(Suggestion, Member.name, OrgUnit.name)
        .join(Member, Member.id == Suggestion.member_id)
        .join(OrgUnit, OrgUnit.id == Suggestion.unit_id)
        .where(*where)
        .order_by(Suggestion.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return OpenPage([_view(item, str(name), str(branch)) for item, name, branch in rows], int(total or 0))
