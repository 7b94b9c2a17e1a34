"""居民诉求's loop after filing: 接单, 进展, 转派, 复杂, 办结 (on a ticket's group, through its primary), and
the reporters' ratings (不满意 reopens once, a change within 12 hours, never by a handler of the ticket).
Every change writes its events and notices in the caller's transaction. Import from bot.domain.requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.domain.audit import actor_for
from bot.domain.places import path_key
from bot.domain.request_core import (
    OPEN,
    OUTCOMES,
    Handler,
    Refused,
    RequestRules,
    Say,
    State,
    TicketView,
    community_of,
    event,
    group_of,
    local_time_fields,
    notify,
    notify_handlers,
    place_label,
    schedule,
    taken_label,
    view,
)
from bot.domain.request_tickets import by_number, unit_path_of
from bot.outbound.notices import secretaries_of_unit
from models import OrgUnit, RequestEvent, RequestRating, RequestTicket, UnitKind


@dataclass(frozen=True, slots=True)
class RatingResult:
    number: str
    rating: int
    reopened: bool
    changed: bool  # an earlier rating was replaced


# --- the loop ---------------------------------------------------------------------------------------------


def _handled(session: Session, handler: Handler, number: str) -> tuple[RequestTicket, list[RequestTicket]]:
    """The ticket's primary and its group, when the handler may handle it."""
    ticket = by_number(session, number)
    if not handler.may_handle(unit_path_of(session, ticket)):
        raise Refused("not_yours")
    group = group_of(session, ticket)
    return group[0], group


def _actor(handler: Handler) -> str:
    return actor_for(openid=handler.openid)


def _tell_reporters(
    session: Session, now: datetime, group: Sequence[RequestTicket], kind: str, ev: RequestEvent, text: str
) -> None:
    openids = [t.reporter_openid for t in group if t.state != State.CLOSED or kind == "closed"]
    notify(session, now, f"request:{group[0].id}:{kind}:{ev.id}", text, openids=openids)


def _events(
    session: Session,
    now: datetime,
    group: Sequence[RequestTicket],
    kind: str,
    handler: Handler,
    note: str = "",
) -> RequestEvent:
    first = None
    for ticket in group:
        if ticket.state == State.CLOSED and ticket is not group[0]:
            continue
        row = event(session, ticket, now, kind, _actor(handler), handler.name, note)
        first = first or row
        ticket.updated_at = now
    assert first is not None
    return first


def _assign(ticket: RequestTicket, handler: Handler, now: datetime) -> None:
    ticket.taken_by_openid, ticket.taken_by_name = handler.openid, handler.name
    ticket.taken_by_staff_id, ticket.taken_by_member_id = handler.staff_id, handler.member_id
    ticket.taken_at = ticket.taken_at or now
    ticket.state = State.TAKEN


def take(
    session: Session,
    now: datetime,
    say: Say,
    handler: Handler,
    number: str,
    *,
    rules: RequestRules | None = None,
) -> TicketView:
    """接单: the handler takes the ticket (its group); every reporter is told who took it."""
    rules = rules or RequestRules()
    primary, group = _handled(session, handler, number)
    if primary.state != State.NEW:
        raise Refused("state")
    for ticket in group:
        if ticket.state in OPEN:
            _assign(ticket, handler, now)
    schedule(primary, rules)
    ev = _events(session, now, group, "taken", handler)
    who = taken_label(primary) or handler.name
    _tell_reporters(
        session, now, group, "taken", ev, say("request_notice_taken", number=primary.number, who=who)
    )
    return view(session, primary, now)


def progress(
    session: Session, now: datetime, say: Say, handler: Handler, number: str, note: str
) -> TicketView:
    """进展: a word on how it goes; every reporter is told."""
    primary, group = _handled(session, handler, number)
    if primary.state not in OPEN:
        raise Refused("state")
    ev = _events(session, now, group, "progress", handler, note)
    text = say(
        "request_notice_progress", number=primary.number, note=note, who=taken_label(primary) or handler.name
    )
    _tell_reporters(session, now, group, "progress", ev, text)
    return view(session, primary, now)


def _unit_named(session: Session, name: str) -> OrgUnit:
    name = name.strip()
    found = session.scalars(
        select(OrgUnit).where(OrgUnit.active.is_(True), or_(OrgUnit.name == name, OrgUnit.path == name))
    ).all()
    if len(found) != 1:
        raise Refused("unknown_unit")
    return found[0]


# A handler's steps on a ticket, as chat (`接单 R…`, `进展 R… 说明` …) and the console's buttons name them.
VERBS = ("take", "progress", "transfer", "complex", "solve")


def incomplete(verb: str, note: str, unit: str) -> bool:
    """Whether a step lacks what it needs: 进展 and 办结 a note, 转派 the unit to hand it to."""
    return (verb in ("progress", "solve") and not note) or (verb == "transfer" and not unit)


def act(
    session: Session,
    now: datetime,
    say: Say,
    handler: Handler,
    number: str,
    verb: str,
    *,
    note: str = "",
    unit: str = "",
    rules: RequestRules | None = None,
) -> TicketView:
    """One of VERBS on the ticket `number` (Refused as each step refuses)."""
    if verb == "take":
        return take(session, now, say, handler, number, rules=rules)
    if verb == "progress":
        return progress(session, now, say, handler, number, note)
    if verb == "transfer":
        return transfer(session, now, say, handler, number, unit, note, rules=rules)
    if verb == "complex":
        return mark_complex(session, now, say, handler, number, rules=rules)
    if verb == "solve":
        return solve(session, now, say, handler, number, note, rules=rules)
    raise ValueError(f"no such step: {verb}")


def transfer_targets(session: Session) -> list[tuple[str, str]]:
    """(path, name) of the units a ticket may be handed to by name (转派): the active 网格党支部 and 社区党委,
    in the tree's order."""
    rows = session.execute(
        select(OrgUnit.path, OrgUnit.name).where(
            OrgUnit.active.is_(True), OrgUnit.kind.in_((UnitKind.BRANCH.value, UnitKind.COMMUNITY.value))
        )
    ).all()
    return sorted(((str(p), str(n)) for p, n in rows), key=lambda row: path_key(row[0]))


def transfer(
    session: Session,
    now: datetime,
    say: Say,
    handler: Handler,
    number: str,
    unit_name: str,
    reason: str,
    *,
    rules: RequestRules | None = None,
) -> TicketView:
    """转派: hand the ticket (its group) to another grid or unit, with a reason; it waits to be taken there
    (a ticket taken before keeps its first response time) and the new owner's handlers are told."""
    rules = rules or RequestRules()
    primary, group = _handled(session, handler, number)
    if primary.state not in OPEN:
        raise Refused("state")
    unit = _unit_named(session, unit_name)
    old = session.get(OrgUnit, primary.unit_id)
    for ticket in group:
        if ticket.state in OPEN:
            ticket.unit_id, ticket.state = unit.id, State.NEW
            ticket.taken_by_openid = ticket.taken_by_name = None
            ticket.taken_by_staff_id = ticket.taken_by_member_id = None
    schedule(primary, rules)
    ev = _events(session, now, group, "transferred", handler, f"{unit.name} {reason}".strip())
    text = say(
        "request_notice_transferred",
        number=primary.number,
        category=primary.category,
        place=place_label(say, primary),
        text=primary.text,
        from_unit=old.name if old else "",
        reason=reason,
        due=say("request_notice_time", **local_time_fields(primary.solve_due, rules)),
    )
    notify_handlers(session, now, f"request:{primary.id}:transferred:{ev.id}", text, primary)
    return view(session, primary, now)


def mark_complex(
    session: Session,
    now: datetime,
    say: Say,
    handler: Handler,
    number: str,
    *,
    rules: RequestRules | None = None,
) -> TicketView:
    """复杂: the solve deadline becomes solve_days_complex (15 days) from filing."""
    rules = rules or RequestRules()
    primary, group = _handled(session, handler, number)
    if primary.state not in OPEN:
        raise Refused("state")
    due = rules.solve_due(primary.filed_at, True)
    for ticket in group:
        ticket.complex = True
        if ticket.state in OPEN:
            ticket.solve_due = due
    if primary.solve_step and now < due:
        primary.solve_step = 0  # the new deadline's steps start again
    schedule(primary, rules)
    _events(session, now, group, "complex", handler)
    return view(session, primary, now)


def solve(
    session: Session,
    now: datetime,
    say: Say,
    handler: Handler,
    number: str,
    note: str,
    *,
    rules: RequestRules | None = None,
) -> TicketView:
    """办结: the group is solved and every reporter is asked to rate (1 满意 2 基本满意 3 不满意)."""
    rules = rules or RequestRules()
    primary, group = _handled(session, handler, number)
    if primary.state not in OPEN:
        raise Refused("state")
    if primary.taken_by_openid is None:
        for ticket in group:
            if ticket.state in OPEN:
                _assign(ticket, handler, now)
    ev = _events(session, now, group, "solved", handler, note)
    for ticket in group:
        if ticket.state in OPEN:
            ticket.state, ticket.solved_at, ticket.rate_step = State.SOLVED, now, 0
            schedule(ticket, rules)
            notify(
                session,
                now,
                f"request:{ticket.id}:solved:{ev.id}",
                say("request_notice_rate", number=ticket.number, note=note),
                openids=[ticket.reporter_openid],
            )
    return view(session, primary, now)


# --- ratings ----------------------------------------------------------------------------------------------


def awaiting_rating(session: Session, openid: str) -> str | None:
    """The number of the reporter's latest ticket waiting for a rating (for a bare 1/2/3)."""
    found = session.scalar(
        select(RequestTicket.number)
        .where(RequestTicket.reporter_openid == openid, RequestTicket.state == State.SOLVED)
        .order_by(RequestTicket.solved_at.desc(), RequestTicket.id.desc())
        .limit(1)
    )
    return str(found) if found else None


def _latest_rating(session: Session, ticket: RequestTicket, openid: str) -> RequestRating | None:
    return session.scalars(
        select(RequestRating)
        .where(RequestRating.ticket_id == ticket.id, RequestRating.openid == openid)
        .order_by(RequestRating.round.desc())
        .limit(1)
    ).first()


def _handled_by(session: Session, group: Sequence[RequestTicket], openid: str) -> bool:
    if any(t.taken_by_openid == openid for t in group):
        return True
    kinds = ("taken", "progress", "transferred", "complex", "solved")
    return (
        session.scalar(
            select(RequestEvent.id)
            .where(
                RequestEvent.ticket_id.in_([t.id for t in group]),
                RequestEvent.kind.in_(kinds),
                RequestEvent.actor == actor_for(openid=openid),
            )
            .limit(1)
        )
        is not None
    )


def _rated_ticket(
    session: Session, now: datetime, rules: RequestRules, openid: str, number: str | None
) -> RequestTicket:
    if number is not None:
        ticket = by_number(session, number)
        if ticket.reporter_openid != openid:
            raise Refused("not_yours")
        return ticket
    waiting = awaiting_rating(session, openid)
    if waiting is not None:
        return by_number(session, waiting)
    recent = session.scalars(
        select(RequestTicket)
        .join(RequestRating, RequestRating.ticket_id == RequestTicket.id)
        .where(RequestRating.openid == openid, RequestTicket.reporter_openid == openid)
        .order_by(RequestRating.rated_at.desc())
        .limit(1)
    ).first()
    if recent is None:
        raise Refused("not_found")
    return recent


def _close(ticket: RequestTicket, now: datetime, outcome: str) -> None:
    ticket.state, ticket.closed_at, ticket.outcome, ticket.next_step_at = State.CLOSED, now, outcome, None
    ticket.updated_at = now


def _reopen(
    session: Session, now: datetime, say: Say, rules: RequestRules, ticket: RequestTicket, words: str
) -> None:
    """不满意 the first time: the ticket and its group's primary are open again, before the community
    secretary and whoever took it."""
    primary = group_of(session, ticket)[0]
    for t in dict.fromkeys([primary, ticket]):
        t.state, t.reopen_count, t.outcome, t.updated_at = State.TAKEN, t.reopen_count + 1, OUTCOMES[3], now
        t.closed_at = None
        if t.taken_by_openid is None:
            t.state = State.NEW
        schedule(t, rules)
    ev = event(
        session,
        ticket,
        now,
        "reopened",
        actor_for(openid=ticket.reporter_openid),
        ticket.reporter_name,
        words,
    )
    if primary is not ticket:
        event(
            session, primary, now, "reopened", actor_for(openid=ticket.reporter_openid), None, ticket.number
        )
    community = community_of(session, primary.unit_id)
    text = say(
        "request_notice_reopened",
        number=primary.number,
        category=primary.category,
        place=place_label(say, primary),
        text=primary.text,
        words=words or "—",
    )
    secretaries = secretaries_of_unit(session, community.id) if community is not None else []
    openids = [primary.taken_by_openid] if primary.taken_by_openid else []
    notify(
        session, now, f"request:{ticket.id}:reopened:{ev.id}", text, openids=openids, member_ids=secretaries
    )


def rate(
    session: Session,
    now: datetime,
    say: Say,
    openid: str,
    rating: int,
    words: str = "",
    number: str | None = None,
    *,
    rules: RequestRules | None = None,
) -> RatingResult:
    """1 满意 2 基本满意 3 不满意, by the reporter. `number` None: their latest ticket waiting for a rating
    (else the one they rated last, to change it). 不满意 the first time reopens the ticket once (the community
    secretary is told); the second time it closes unsatisfied. A rating may be changed within
    `rating_change_hours`; whoever handled the ticket may not rate it (own_ticket)."""
    if rating not in OUTCOMES:
        raise ValueError(f"rating must be 1, 2 or 3, not {rating}")
    rules = rules or RequestRules()
    ticket = _rated_ticket(session, now, rules, openid, number)
    group = group_of(session, ticket)
    if _handled_by(session, group, openid):
        raise Refused("own_ticket")
    latest = _latest_rating(session, ticket, openid)
    words = words.strip()
    if ticket.state == State.SOLVED:
        this_round = 1 if ticket.reopen_count == 0 else 2
        row = session.scalars(
            select(RequestRating).where(
                RequestRating.ticket_id == ticket.id,
                RequestRating.openid == openid,
                RequestRating.round == this_round,
            )
        ).first()
        changed = row is not None
        if row is None:
            row = RequestRating(
                ticket_id=ticket.id, openid=openid, member_id=ticket.reporter_member_id, round=this_round,
                rating=rating, words=words, rated_at=now, updated_at=now,
            )  # fmt: skip
            session.add(row)
        else:
            row.rating, row.words, row.updated_at = rating, words, now
        reopened = _apply(session, now, say, rules, ticket, rating, words, first_round=this_round == 1)
        event(
            session,
            ticket,
            now,
            "rated",
            actor_for(openid=openid),
            ticket.reporter_name,
            f"{rating} {words}".strip(),
        )
        return RatingResult(ticket.number, rating, reopened, changed)
    if latest is None:
        raise Refused("state")
    if now - latest.rated_at > timedelta(hours=rules.rating_change_hours):
        raise Refused("too_late")
    old = latest.rating
    latest.rating, latest.words, latest.updated_at = rating, words or latest.words, now
    reopened = False
    if ticket.state == State.CLOSED:
        if rating == 3 and old != 3:
            reopened = _apply(session, now, say, rules, ticket, 3, words, first_round=latest.round == 1)
        else:
            ticket.outcome, ticket.updated_at = OUTCOMES[rating], now
    elif ticket.state in OPEN and old == 3 and rating != 3 and latest.round == 1:
        ticket.reopen_count = max(0, ticket.reopen_count - 1)  # the reopen it caused is undone
        _close(ticket, now, OUTCOMES[rating])
    else:
        raise Refused("state")
    event(
        session,
        ticket,
        now,
        "rated",
        actor_for(openid=openid),
        ticket.reporter_name,
        f"{rating} {words}".strip(),
    )
    return RatingResult(ticket.number, rating, reopened, True)


def _apply(
    session: Session,
    now: datetime,
    say: Say,
    rules: RequestRules,
    ticket: RequestTicket,
    rating: int,
    words: str,
    *,
    first_round: bool,
) -> bool:
    """A rating's effect on the ticket; True when it reopened it."""
    if rating != 3:
        _close(ticket, now, OUTCOMES[rating])
        return False
    if first_round:
        _reopen(session, now, say, rules, ticket, words)
        return True
    _close(ticket, now, OUTCOMES[3])
    event(session, ticket, now, "closed", note=OUTCOMES[3])
    return False
