"""居民诉求's deadlines as the request_deadlines job applies them (督办): for a ticket not taken in time, then
for one not solved in time, a reminder to its handlers at 80 % of the time, the grid branch's secretary at
the deadline, the community's secretary (吹哨) when the same span has passed again — the resident told of
each escalation; for a solved ticket nobody rated, a reminder a day before `rating_wait_days` are up, then
closed unrated. Each step once per ticket (the ticket's step counters, and notice keys such as
`request:{id}:take:escalate1`); non-urgent tickets' steps wait for quiet_start–quiet_end.

In chunks of tickets by id (CHUNK a transaction, memory flat): the chunk's due tickets are read as plain
rows, and what their steps write goes out in a handful of statements — the notices through
bot.outbound.system_notices.add_system_notices, the events in one executemany, the tickets' new counters in
one executemany UPDATE by id (another for the tickets closed unrated). Who handles a unit's tickets, and its
secretaries, are looked up once per run (`Lookups`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.domain.request_core import (
    OPEN,
    UNRATED,
    Handlers,
    RequestRules,
    Say,
    State,
    UnitPeople,
    community_of,
    handlers_of,
    local_time_fields,
    step_times,
    unit_people,
)
from bot.outbound.notices import secretaries_of_unit
from bot.outbound.system_notices import SystemNotice, add_system_notices
from models import OrgUnit, RequestEvent, RequestTicket

ACTOR = "job:request_deadlines"
CHUNK = 2000  # tickets a transaction


@dataclass(slots=True)
class Due:
    """What the job reads of a ticket with a step due (a request_core.Timed)."""

    id: int
    number: str
    category: str
    text: str
    place: str
    unit_id: int
    urgent: bool
    reporter_openid: str
    taken_by_openid: str | None
    state: str
    taken_at: datetime | None
    take_due: datetime
    solve_due: datetime
    solved_at: datetime | None
    filed_at: datetime
    take_step: int
    solve_step: int
    rate_step: int
    next_step_at: datetime | None


_T = RequestTicket
_COLUMNS = (
    _T.id, _T.number, _T.category, _T.text, _T.place, _T.unit_id, _T.urgent, _T.reporter_openid,
    _T.taken_by_openid, _T.state, _T.taken_at, _T.take_due, _T.solve_due, _T.solved_at, _T.filed_at,
    _T.take_step, _T.solve_step, _T.rate_step, _T.next_step_at,
)  # fmt: skip


@dataclass(slots=True)
class Lookups:
    """Looked up once per run: who may handle a unit's tickets, and so its handlers per category, the
    secretaries per unit and step, the units' names."""

    people: dict[int, UnitPeople] = field(default_factory=dict)
    handlers: dict[tuple[int, str], Handlers] = field(default_factory=dict)
    secretaries: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    unit_names: dict[int, str] | None = None


@dataclass(slots=True)
class StepCounts:
    reminded: int = 0
    escalated: int = 0
    rate_reminded: int = 0
    closed_unrated: int = 0
    last_id: int = 0
    seen: int = 0
    done: list[str] = field(default_factory=list)  # keys of the chunk's steps done (tests, logs)

    def add(self, other: StepCounts) -> None:
        """Sum the counts (not `done`: a run's total stays small whatever its size)."""
        self.reminded += other.reminded
        self.escalated += other.escalated
        self.rate_reminded += other.rate_reminded
        self.closed_unrated += other.closed_unrated


@dataclass(slots=True)
class _Chunk:
    """What a chunk's steps write, written together at its end."""

    session: Session
    now: datetime
    rules: RequestRules
    say: Say
    lookups: Lookups
    counts: StepCounts
    linked: dict[int, list[tuple[str, str]]]  # primary → (reporter, state) of its linked tickets
    notices: list[SystemNotice] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)
    stepped: list[dict[str, object]] = field(default_factory=list)
    closed: list[dict[str, object]] = field(default_factory=list)

    def notify(
        self, key: str, text: str, *, openids: Sequence[str] = (), member_ids: Sequence[int] = ()
    ) -> None:
        if openids or member_ids:
            self.notices.append(
                SystemNotice(key, text, list(dict.fromkeys(member_ids)), list(dict.fromkeys(openids)))
            )

    def event(self, ticket: Due, kind: str, note: str) -> None:
        self.events.append(
            {"ticket_id": ticket.id, "kind": kind, "actor": ACTOR, "actor_name": None, "note": note,
             "at": self.now}
        )  # fmt: skip

    def write(self) -> None:
        add_system_notices(self.session, self.now, self.notices)
        if self.events:
            self.session.execute(insert(RequestEvent), self.events)
        for rows in (self.stepped, self.closed):  # one executemany each (their columns differ)
            if rows:
                self.session.execute(update(RequestTicket), rows)


def due_steps(
    session: Session,
    now: datetime,
    rules: RequestRules,
    say: Say,
    after_id: int = 0,
    lookups: Lookups | None = None,
) -> StepCounts:
    """One chunk (by id, after `after_id`) of the tickets with a step due; `last_id`/`seen` for the next."""
    query = select(*_COLUMNS).where(
        RequestTicket.state.in_((*OPEN, State.SOLVED)),
        RequestTicket.next_step_at <= now,
        RequestTicket.id > after_id,
    )
    if rules.quiet(now):  # only urgent tickets before they are solved go on at night
        query = query.where(RequestTicket.urgent.is_(True), RequestTicket.state.in_(OPEN))
    tickets = [
        Due(**row) for row in session.execute(query.order_by(RequestTicket.id).limit(CHUNK)).mappings()
    ]
    counts = StepCounts(last_id=tickets[-1].id if tickets else after_id, seen=len(tickets))
    if not tickets:
        return counts
    lookups = lookups if lookups is not None else Lookups()
    if lookups.unit_names is None:
        lookups.unit_names = {int(i): str(n) for i, n in session.execute(select(OrgUnit.id, OrgUnit.name))}
    linked: dict[int, list[tuple[str, str]]] = {}
    primaries = [t.id for t in tickets if t.state in OPEN]  # only escalations tell the linked reporters
    if primaries:
        for primary_id, openid, state in session.execute(
            select(RequestTicket.primary_id, RequestTicket.reporter_openid, RequestTicket.state).where(
                RequestTicket.primary_id.in_(primaries)
            )
        ):
            if primary_id is not None:
                linked.setdefault(int(primary_id), []).append((str(openid), str(state)))
    chunk = _Chunk(session, now, rules, say, lookups, counts, linked)
    for ticket in tickets:
        _steps(chunk, ticket)
    chunk.write()
    return counts


def _steps(chunk: _Chunk, ticket: Due) -> None:
    now, counts = chunk.now, chunk.counts
    steps = step_times(ticket, chunk.rules)
    for index, (phase, step, at) in enumerate(steps):
        if at > now:
            break
        if step == "remind80" and any(p == phase and a <= now for p, _, a in steps[index + 1 :]):
            _advance(ticket, phase)  # its deadline has passed too (the job was away): straight to escalating
            continue
        key = f"request:{ticket.id}:{phase}:{step}" if phase != "rate" else f"request:{ticket.id}:{step}"
        if phase == "rate":
            _rate_step(chunk, ticket, step, key)
        elif step == "remind80":
            _remind(chunk, ticket, phase, key)
            counts.reminded += 1
        else:
            _escalate(chunk, ticket, phase, step, key)
            counts.escalated += 1
        counts.done.append(key)
        _advance(ticket, phase)
        if ticket.state == State.CLOSED:
            break
    later = step_times(ticket, chunk.rules)
    row: dict[str, object] = {
        "id": ticket.id,
        "take_step": ticket.take_step,
        "solve_step": ticket.solve_step,
        "rate_step": ticket.rate_step,
        "next_step_at": later[0][2] if later else None,
        "updated_at": now,
    }
    if ticket.state == State.CLOSED:
        chunk.closed.append({**row, "state": State.CLOSED, "closed_at": now, "outcome": UNRATED})
    else:
        chunk.stepped.append(row)


def _advance(ticket: Due, phase: str) -> None:
    if phase == "take":
        ticket.take_step += 1
    elif phase == "solve":
        ticket.solve_step += 1
    else:
        ticket.rate_step += 1


def _place(say: Say, ticket: Due) -> str:
    return ticket.place or say("request_notice_no_place")


def _handlers(chunk: _Chunk, ticket: Due) -> Handlers | None:
    lookups, unit_id = chunk.lookups, ticket.unit_id
    found = lookups.handlers.get((unit_id, ticket.category))
    if found is None:
        people = lookups.people.get(unit_id)
        if people is None:
            unit = chunk.session.get(OrgUnit, unit_id)
            if unit is None:
                return None
            people = lookups.people[unit_id] = unit_people(chunk.session, unit)
        found = handlers_of(people, ticket.category, lambda: _secretaries(chunk, unit_id, "escalate1"))
        lookups.handlers[(unit_id, ticket.category)] = found
    return found


def _remind(chunk: _Chunk, ticket: Due, phase: str, key: str) -> None:
    say = chunk.say
    due = ticket.take_due if phase == "take" else ticket.solve_due
    text = say(
        f"request_notice_remind_{phase}",
        number=ticket.number,
        category=ticket.category,
        place=_place(say, ticket),
        due=say("request_notice_time", **local_time_fields(due, chunk.rules)),
    )
    chunk.event(ticket, "reminded", f"{phase} 80%")
    if phase == "solve" and ticket.taken_by_openid:
        chunk.notify(key, text, openids=[ticket.taken_by_openid])
        return
    found = _handlers(chunk, ticket)
    if found is not None:
        chunk.notify(key, text, openids=found.openids, member_ids=found.member_ids)


def _secretaries(chunk: _Chunk, unit_id: int, step: str) -> list[int]:
    cache = chunk.lookups.secretaries
    found = cache.get((unit_id, step))
    if found is None:
        session = chunk.session
        if step == "escalate1":  # the grid branch's (the nearest unit at or above with one)
            found = secretaries_of_unit(session, unit_id)
        else:  # the community's (吹哨)
            community = community_of(session, unit_id)
            found = secretaries_of_unit(session, community.id if community else unit_id)
        cache[(unit_id, step)] = found
    return found


def _escalate(chunk: _Chunk, ticket: Due, phase: str, step: str, key: str) -> None:
    say = chunk.say
    due = ticket.take_due if phase == "take" else ticket.solve_due
    text = say(
        f"request_notice_escalate_{phase}",
        number=ticket.number,
        category=ticket.category,
        place=_place(say, ticket),
        text=ticket.text,
        unit=(chunk.lookups.unit_names or {}).get(ticket.unit_id, ""),
        due=say("request_notice_time", **local_time_fields(due, chunk.rules)),
    )
    chunk.event(ticket, "escalated", f"{phase} {step[-1]}")
    chunk.notify(key, text, member_ids=_secretaries(chunk, ticket.unit_id, step))
    group = [(ticket.reporter_openid, ticket.state), *chunk.linked.get(ticket.id, [])]
    openids = [openid for openid, state in group if state != State.CLOSED]
    chunk.notify(f"{key}:resident", say("request_notice_escalated", number=ticket.number), openids=openids)


def _rate_step(chunk: _Chunk, ticket: Due, step: str, key: str) -> None:
    say = chunk.say
    if step == "rate_reminder":
        chunk.event(ticket, "reminded", "rating")
        chunk.notify(
            key, say("request_notice_rate_reminder", number=ticket.number), openids=[ticket.reporter_openid]
        )
        chunk.counts.rate_reminded += 1
        return
    ticket.state = State.CLOSED
    chunk.event(ticket, "closed", UNRATED)
    chunk.notify(
        f"request:{ticket.id}:closed",
        say("request_notice_closed", number=ticket.number),
        openids=[ticket.reporter_openid],
    )
    chunk.counts.closed_unrated += 1
