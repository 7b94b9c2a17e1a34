"""居民诉求's deadlines as the request_deadlines job applies them (督办): for a ticket not taken in time, then
for one not solved in time, a reminder to its handlers at 80 % of the time, the grid branch's secretary at
the deadline, the community's secretary (吹哨) when the same span has passed again — the resident told of
each escalation; for a solved ticket nobody rated, a reminder a day before `rating_wait_days` are up, then
closed unrated. Each step once per ticket (the ticket's step counters, and notice keys such as
`request:{id}:take:escalate1`); non-urgent tickets' steps wait for quiet_start–quiet_end."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.request_core import (
    OPEN,
    UNRATED,
    Handlers,
    RequestRules,
    Say,
    State,
    community_of,
    event,
    local_time_fields,
    notify,
    notify_handlers,
    place_label,
    schedule,
    step_times,
)
from bot.outbound.notices import secretaries_of_unit
from models import OrgUnit, RequestTicket

ACTOR = "job:request_deadlines"
BATCH = 500


@dataclass(slots=True)
class StepCounts:
    reminded: int = 0
    escalated: int = 0
    rate_reminded: int = 0
    closed_unrated: int = 0
    last_id: int = 0
    seen: int = 0
    done: list[str] = field(default_factory=list)  # keys of the steps done (tests, logs)
    # Looked up once per batch: a unit's handlers per category, the secretaries per unit and step.
    handlers: dict[tuple[int, str], Handlers] = field(default_factory=dict)
    secretaries: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    unit_names: dict[int, str] = field(default_factory=dict)
    linked: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # primary → (reporter, state)

    def add(self, other: StepCounts) -> None:
        self.reminded += other.reminded
        self.escalated += other.escalated
        self.rate_reminded += other.rate_reminded
        self.closed_unrated += other.closed_unrated
        self.done += other.done


def due_steps(
    session: Session, now: datetime, rules: RequestRules, say: Say, after_id: int = 0
) -> StepCounts:
    """One batch (by id, after `after_id`) of the tickets with a step due; `last_id`/`seen` for the next."""
    query = select(RequestTicket).where(
        RequestTicket.state.in_((*OPEN, State.SOLVED)),
        RequestTicket.next_step_at <= now,
        RequestTicket.id > after_id,
    )
    if rules.quiet(now):  # only urgent tickets before they are solved go on at night
        query = query.where(RequestTicket.urgent.is_(True), RequestTicket.state.in_(OPEN))
    tickets = session.scalars(query.order_by(RequestTicket.id).limit(BATCH)).all()
    counts = StepCounts(last_id=tickets[-1].id if tickets else after_id, seen=len(tickets))
    if not tickets:
        return counts
    counts.unit_names = {int(i): str(n) for i, n in session.execute(select(OrgUnit.id, OrgUnit.name))}
    for primary_id, openid, state in session.execute(
        select(RequestTicket.primary_id, RequestTicket.reporter_openid, RequestTicket.state).where(
            RequestTicket.primary_id.in_([t.id for t in tickets])
        )
    ):
        if primary_id is not None:
            counts.linked.setdefault(primary_id, []).append((openid, state))
    with session.no_autoflush:
        for ticket in tickets:
            _steps(session, now, rules, say, ticket, counts)
    return counts


def _steps(
    session: Session, now: datetime, rules: RequestRules, say: Say, ticket: RequestTicket, counts: StepCounts
) -> None:
    steps = step_times(ticket, rules)
    for index, (phase, step, at) in enumerate(steps):
        if at > now:
            break
        if step == "remind80" and any(p == phase and a <= now for p, _, a in steps[index + 1 :]):
            _advance(ticket, phase)  # its deadline has passed too (the job was away): straight to escalating
            continue
        key = f"request:{ticket.id}:{phase}:{step}" if phase != "rate" else f"request:{ticket.id}:{step}"
        if phase == "rate":
            _rate_step(session, now, say, ticket, step, key, counts)
        elif step == "remind80":
            _remind(session, now, rules, say, ticket, phase, key, counts)
            counts.reminded += 1
        else:
            _escalate(session, now, rules, say, ticket, phase, step, key, counts)
            counts.escalated += 1
        counts.done.append(key)
        _advance(ticket, phase)
        if ticket.state == State.CLOSED:
            break
    schedule(ticket, rules)
    ticket.updated_at = now


def _advance(ticket: RequestTicket, phase: str) -> None:
    if phase == "take":
        ticket.take_step += 1
    elif phase == "solve":
        ticket.solve_step += 1
    else:
        ticket.rate_step += 1


def _remind(
    session: Session,
    now: datetime,
    rules: RequestRules,
    say: Say,
    ticket: RequestTicket,
    phase: str,
    key: str,
    counts: StepCounts,
) -> None:
    due = ticket.take_due if phase == "take" else ticket.solve_due
    text = say(
        f"request_notice_remind_{phase}",
        number=ticket.number,
        category=ticket.category,
        place=place_label(say, ticket),
        due=say("request_notice_time", **local_time_fields(due, rules)),
    )
    event(session, ticket, now, "reminded", ACTOR, note=f"{phase} 80%", flush=False)
    if phase == "solve" and ticket.taken_by_openid:
        notify(session, now, key, text, openids=[ticket.taken_by_openid])
    else:
        notify_handlers(session, now, key, text, ticket, counts.handlers)


def _escalate(
    session: Session,
    now: datetime,
    rules: RequestRules,
    say: Say,
    ticket: RequestTicket,
    phase: str,
    step: str,
    key: str,
    counts: StepCounts,
) -> None:
    secretaries = counts.secretaries.get((ticket.unit_id, step))
    if secretaries is None:
        if step == "escalate1":  # the grid branch's (the nearest unit at or above with one)
            secretaries = secretaries_of_unit(session, ticket.unit_id)
        else:  # the community's (吹哨)
            community = community_of(session, ticket.unit_id)
            secretaries = secretaries_of_unit(session, community.id if community else ticket.unit_id)
        counts.secretaries[(ticket.unit_id, step)] = secretaries
    due = ticket.take_due if phase == "take" else ticket.solve_due
    text = say(
        f"request_notice_escalate_{phase}",
        number=ticket.number,
        category=ticket.category,
        place=place_label(say, ticket),
        text=ticket.text,
        unit=counts.unit_names.get(ticket.unit_id, ""),
        due=say("request_notice_time", **local_time_fields(due, rules)),
    )
    event(session, ticket, now, "escalated", ACTOR, note=f"{phase} {step[-1]}", flush=False)
    notify(session, now, key, text, member_ids=secretaries)
    group = [(ticket.reporter_openid, ticket.state), *counts.linked.get(ticket.id, [])]
    resident = say("request_notice_escalated", number=ticket.number)
    openids = [openid for openid, state in group if state != State.CLOSED]
    notify(session, now, f"{key}:resident", resident, openids=openids)


def _rate_step(
    session: Session, now: datetime, say: Say, ticket: RequestTicket, step: str, key: str, counts: StepCounts
) -> None:
    if step == "rate_reminder":
        event(session, ticket, now, "reminded", ACTOR, note="rating", flush=False)
        notify(
            session,
            now,
            key,
            say("request_notice_rate_reminder", number=ticket.number),
            openids=[ticket.reporter_openid],
        )
        counts.rate_reminded += 1
        return
    ticket.state, ticket.closed_at, ticket.outcome = State.CLOSED, now, UNRATED
    event(session, ticket, now, "closed", ACTOR, note=UNRATED, flush=False)
    notify(
        session,
        now,
        f"request:{ticket.id}:closed",
        say("request_notice_closed", number=ticket.number),
        openids=[ticket.reporter_openid],
    )
    counts.closed_unrated += 1
