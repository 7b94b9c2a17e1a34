"""居民诉求's filing (the 10-minute repeat, the 24-hour merge, routing, the handlers told at once), the place,
phone and photos added after it, and the lists a resident and a handler see. Every change writes its event
and its notices in the caller's transaction. Import the public names from bot.domain.requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient

from bot.domain.audit import actor_for, record
from bot.domain.privacy import Vault
from bot.domain.request_core import (
    OPEN,
    Classified,
    Handler,
    Place,
    Refused,
    RequestRules,
    Say,
    State,
    TicketView,
    event,
    group_of,
    local_time_fields,
    notify,
    notify_handlers,
    place_label,
    route,
    schedule,
    view,
)
from models import OrgUnit, RequestEvent, RequestLink, RequestPhoto, RequestTicket

MAX_PHOTOS = 9


@dataclass(frozen=True, slots=True)
class Reporter:
    openid: str
    member_id: int | None = None
    staff_id: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Filed:
    ticket_id: int
    number: str  # R20261201-0007
    category: str
    urgent: bool
    take_due: datetime
    solve_due: datetime
    repeat: bool  # the same person sent the same problem within 10 minutes: this is their open ticket
    merged_into: str | None  # number of the open ticket it was linked to (same category, same building, 24 h)
    reporters: int  # reporters in its group (1 when alone)
    unit_name: str  # who owns it (the grid, or the community)


# --- filing ----------------------------------------------------------------------------------------------


def _next_number(session: Session, now: datetime, rules: RequestRules) -> str:
    """R + the local day + the day's sequence (4 digits, more after 9 999 — a city's busy day). The day's
    latest ticket by id, not max(number): past 9 999 the text order no longer counts, and the primary key
    read backwards stops at the first of today's rows."""
    local = now.astimezone(rules.zone)
    prefix = "R" + local.strftime("%Y%m%d")
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    last = session.scalar(
        select(RequestTicket.number)
        .where(RequestTicket.filed_at >= day_start, RequestTicket.number.like(prefix + "-%"))
        .order_by(RequestTicket.id.desc())
        .limit(1)
    )
    seq = int(str(last).rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}-{seq:04d}"


def reporters_of(session: Session, primary_id: int) -> int:
    """How many people reported a group's problem (a primary ticket and those linked to it), by counting:
    a lift out in a tall building may gather hundreds, and reading them all for every new report made filing
    quadratic."""
    return int(
        session.scalar(
            select(func.count(func.distinct(RequestTicket.reporter_openid))).where(
                (RequestTicket.id == primary_id) | (RequestTicket.primary_id == primary_id)
            )
        )
        or 0
    )


def tell_of_merge(reporters: int) -> bool:
    """Whether the handler hears that one more resident reported a merged problem: the first few, then
    every tenth (not a message per neighbour when a whole building reports the same lift)."""
    return reporters <= 3 or reporters % 10 == 0


def _insert(session: Session, now: datetime, rules: RequestRules, ticket: RequestTicket) -> None:
    """Insert the ticket; on PostgreSQL another transaction may have taken the same day's number in the
    meantime (the unique index waits for it, then refuses): take the next one, in a savepoint."""
    if session.get_bind().dialect.name != "postgresql":  # SQLite: one writer, the number is free
        session.add(ticket)
        session.flush()
        return
    for _ in range(20):
        try:
            with session.begin_nested():
                session.add(ticket)
                session.flush()
            return
        except IntegrityError:
            make_transient(ticket)
            ticket.id = None  # type: ignore[assignment]
            ticket.number = _next_number(session, now, rules)
    raise RuntimeError("no free ticket number after 20 tries")


def _same_building(building_id: int | None) -> object:
    return (
        RequestTicket.building_id.is_(None)
        if building_id is None
        else RequestTicket.building_id == building_id
    )


def _filed(
    session: Session,
    ticket: RequestTicket,
    *,
    repeat: bool = False,
    unit: OrgUnit | None = None,
    reporters: int | None = None,
) -> Filed:
    """What the reporter is told. `unit`, `reporters`: already known to the caller (a new ticket on its
    own: its unit from routing, one reporter), so not read again."""
    primary = session.get(RequestTicket, ticket.primary_id) if ticket.primary_id is not None else ticket
    assert primary is not None
    if unit is None or unit.id != ticket.unit_id:
        unit = session.get(OrgUnit, ticket.unit_id)
    return Filed(
        ticket_id=ticket.id,
        number=ticket.number,
        category=ticket.category,
        urgent=ticket.urgent,
        take_due=ticket.take_due,
        solve_due=ticket.solve_due,
        repeat=repeat,
        merged_into=primary.number if primary.id != ticket.id else None,
        reporters=reporters if reporters is not None else reporters_of(session, primary.id),
        unit_name=unit.name if unit else "",
    )


def _add_photos(session: Session, now: datetime, ticket: RequestTicket, media_ids: Sequence[str]) -> int:
    if not media_ids:
        return 0
    known = dict(
        session.execute(
            select(RequestPhoto.media_id, RequestPhoto.seq).where(RequestPhoto.ticket_id == ticket.id)
        ).all()
    )
    seq = max(known.values(), default=0)
    added = 0
    for media_id in dict.fromkeys(media_ids):
        if media_id in known or len(known) >= MAX_PHOTOS:
            continue
        seq += 1
        known[media_id] = seq
        session.add(RequestPhoto(ticket_id=ticket.id, seq=seq, media_id=media_id, created_at=now))
        added += 1
    return added


def _new_notice(say: Say, rules: RequestRules, ticket: RequestTicket) -> str:
    return say(
        "request_notice_new_urgent" if ticket.urgent else "request_notice_new",
        number=ticket.number,
        category=ticket.category,
        place=place_label(say, ticket),
        text=ticket.text,
        due=say("request_notice_time", **local_time_fields(ticket.take_due, rules)),
    )


def file_ticket(
    session: Session,
    now: datetime,
    rules: RequestRules,
    say: Say,
    reporter: Reporter,
    text: str,
    classified: Classified,
    place: Place,
    *,
    phone_enc: str | None = None,
    source: str = "text",
    media_ids: Sequence[str] = (),
) -> Filed:
    """File a report: the reporter's open ticket of the same category and place within `repeat_minutes`
    (repeat), else a new ticket, linked to another reporter's open ticket of the same category and building
    within `merge_hours` (merged), else routed to the grid covering the building (the community otherwise)
    whose handlers are told at once."""
    repeat = session.scalars(
        select(RequestTicket)
        .where(
            RequestTicket.reporter_openid == reporter.openid,
            RequestTicket.category == classified.category,
            RequestTicket.state.in_(OPEN),
            RequestTicket.filed_at >= now - timedelta(minutes=rules.repeat_minutes),
            _same_building(place.building_id),  # type: ignore[arg-type]
        )
        .order_by(RequestTicket.filed_at.desc())
        .limit(1)
    ).first()
    if repeat is not None:
        _add_photos(session, now, repeat, media_ids)
        if phone_enc and not repeat.phone_enc:
            repeat.phone_enc = phone_enc
        repeat.updated_at = now
        return _filed(session, repeat, repeat=True)
    primary = None
    if place.building_id is not None:
        primary = session.scalars(
            select(RequestTicket)
            .where(
                RequestTicket.building_id == place.building_id,
                RequestTicket.category == classified.category,
                RequestTicket.state.in_(OPEN),
                RequestTicket.primary_id.is_(None),
                RequestTicket.reporter_openid != reporter.openid,
                RequestTicket.filed_at >= now - timedelta(hours=rules.merge_hours),
            )
            .order_by(RequestTicket.filed_at)
            .limit(1)
        ).first()
    owner: OrgUnit | None = None
    if primary is None:
        owner = route(session, place.building_id)
        unit_id = owner.id
    else:
        unit_id = primary.unit_id
    ticket = RequestTicket(
        number=_next_number(session, now, rules),
        reporter_openid=reporter.openid,
        reporter_member_id=reporter.member_id,
        reporter_staff_id=reporter.staff_id,
        reporter_name=reporter.name,
        text=text,
        category=classified.category,
        urgent=classified.urgent,
        complex=False,
        building_id=place.building_id,
        door=place.door,
        place=place.label,
        phone_enc=phone_enc,
        unit_id=unit_id,
        state=State.NEW,
        take_due=rules.take_due(now, classified.urgent),
        solve_due=rules.solve_due(now, False),
        reopen_count=0,
        source=source,
        take_step=0,
        solve_step=0,
        rate_step=0,
        filed_at=now,
        filed_month=now.astimezone(rules.zone).strftime("%Y-%m"),
        updated_at=now,
    )
    if primary is not None:  # the group is handled as one: the same owner, state and deadlines
        ticket.primary_id = primary.id
        ticket.urgent = ticket.urgent or primary.urgent
        ticket.complex, ticket.state = primary.complex, primary.state
        ticket.take_due, ticket.solve_due = primary.take_due, primary.solve_due
        ticket.taken_at, ticket.taken_by_openid = primary.taken_at, primary.taken_by_openid
        ticket.taken_by_staff_id, ticket.taken_by_member_id = (
            primary.taken_by_staff_id,
            primary.taken_by_member_id,
        )
        ticket.taken_by_name = primary.taken_by_name
        ticket.take_step, ticket.solve_step = 3, 3  # the job follows the primary
        ticket.next_step_at = None
    else:
        schedule(ticket, rules)  # before the insert: one statement, not an insert and an update
    _insert(session, now, rules, ticket)
    event(
        session, ticket, now, "filed", actor_for(openid=reporter.openid), reporter.name, source, flush=False
    )
    _add_photos(session, now, ticket, media_ids)
    if primary is None:
        key = f"request:{ticket.id}:new"  # the ticket is new: so is its key
        notify_handlers(session, now, key, _new_notice(say, rules, ticket), ticket, unit=owner, new_key=True)
        return _filed(session, ticket, unit=owner, reporters=1)
    session.add(RequestLink(primary_id=primary.id, ticket_id=ticket.id, linked_at=now))
    event(session, ticket, now, "merged", note=primary.number, flush=False)
    event(session, primary, now, "merged", note=ticket.number, flush=False)
    reporters = reporters_of(session, primary.id)
    if not tell_of_merge(reporters):
        return _filed(session, ticket, reporters=reporters)
    text_ = say(
        "request_notice_merged", number=primary.number, new=ticket.number, reporters=reporters, text=text
    )
    key = f"request:{primary.id}:merged:{ticket.id}"  # names the new ticket: a new key
    if primary.taken_by_openid:
        notify(session, now, key, text_, openids=[primary.taken_by_openid], new_key=True)
    else:
        notify_handlers(session, now, key, text_, primary, new_key=True)
    return _filed(session, ticket, reporters=reporters)


def set_place(
    session: Session, now: datetime, ticket_id: int, place: Place, *, say: Say | None = None
) -> None:
    """The building given after filing (urgent tickets): a ticket nobody took yet goes to the grid covering
    it, whose handlers are told (with `say`)."""
    ticket = session.get(RequestTicket, ticket_id)
    if ticket is None:
        raise Refused("not_found")
    ticket.building_id, ticket.door, ticket.place, ticket.updated_at = (
        place.building_id,
        place.door,
        place.label,
        now,
    )
    if ticket.state != State.NEW or ticket.taken_at is not None or ticket.primary_id is not None:
        return
    unit = route(session, place.building_id)
    if unit.id == ticket.unit_id:
        return
    ticket.unit_id = unit.id
    for linked in group_of(session, ticket)[1:]:
        linked.unit_id = unit.id
    event(session, ticket, now, "transferred", note=unit.name)
    if say is not None:
        rules = RequestRules()
        notify_handlers(
            session, now, f"request:{ticket.id}:new:{unit.id}", _new_notice(say, rules, ticket), ticket
        )


def set_phone(session: Session, now: datetime, ticket_id: int, phone_enc: str | None) -> None:
    ticket = session.get(RequestTicket, ticket_id)
    if ticket is None:
        raise Refused("not_found")
    ticket.phone_enc, ticket.updated_at = phone_enc, now


def add_photo(session: Session, now: datetime, ticket_id: int, media_id: str) -> bool:
    """A photo sent after the report; False: already kept, or the ticket has nine."""
    ticket = session.get(RequestTicket, ticket_id)
    if ticket is None:
        raise Refused("not_found")
    return _add_photos(session, now, ticket, [media_id]) > 0


# --- lists ------------------------------------------------------------------------------------------------


def by_number(session: Session, number: str) -> RequestTicket:
    ticket = session.scalars(
        select(RequestTicket).where(RequestTicket.number == number.strip().upper())
    ).first()
    if ticket is None:
        raise Refused("not_found")
    return ticket


def unit_path_of(session: Session, ticket: RequestTicket) -> str:
    unit = session.get(OrgUnit, ticket.unit_id)
    return unit.path if unit is not None else ""


def my_tickets(
    session: Session, now: datetime, openid: str, limit: int = 10, *, vault: Vault | None = None
) -> list[TicketView]:
    """A resident's own tickets, newest first."""
    tickets = session.scalars(
        select(RequestTicket)
        .where(RequestTicket.reporter_openid == openid)
        .order_by(RequestTicket.filed_at.desc(), RequestTicket.id.desc())
        .limit(limit)
    ).all()
    return [view(session, t, now, vault=vault) for t in tickets]


def _scope_filter(handler: Handler) -> object:
    paths = handler.unit_paths
    if "" in paths:
        return True
    return or_(*(or_(OrgUnit.path == p, OrgUnit.path.startswith(p + "/")) for p in paths)) if paths else False


def todo(
    session: Session,
    now: datetime,
    handler: Handler,
    offset: int = 0,
    limit: int = 8,
    *,
    vault: Vault | None = None,
) -> tuple[list[TicketView], int]:
    """The open tickets of the handler's units (a group once, by its primary), oldest first; the total."""
    query = (
        select(RequestTicket)
        .join(OrgUnit, OrgUnit.id == RequestTicket.unit_id)
        .where(RequestTicket.state.in_(OPEN), RequestTicket.primary_id.is_(None), _scope_filter(handler))  # type: ignore[arg-type]
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    tickets = session.scalars(
        query.order_by(RequestTicket.filed_at, RequestTicket.id).offset(offset).limit(limit)
    ).all()
    return [view(session, t, now, vault=vault) for t in tickets], int(total)


def ticket_for(
    session: Session, now: datetime, handler: Handler, number: str, *, vault: Vault | None = None
) -> TicketView:
    """A ticket of the handler's units (Refused not_found / not_yours otherwise)."""
    ticket = by_number(session, number)
    if not handler.may_handle(unit_path_of(session, ticket)):
        raise Refused("not_yours")
    return view(session, ticket, now, vault=vault)


BOARD_STATES = (State.NEW, State.TAKEN, State.SOLVED, State.CLOSED)


@dataclass(frozen=True, slots=True)
class Card:
    """A ticket on the console's board (a group once, by its primary)."""

    number: str
    category: str
    urgent: bool
    complex: bool
    state: str
    place: str
    unit_name: str
    filed_at: datetime
    due: datetime | None  # take_due before it is taken, solve_due while open, None after
    overdue: bool
    taken_by_name: str | None
    reporters: int


def _overdue_clause(now: datetime) -> object:
    """bot.domain.request_core.is_overdue, as SQL."""
    return or_(
        (RequestTicket.state == State.NEW)
        & RequestTicket.taken_at.is_(None)
        & (RequestTicket.take_due < now),
        RequestTicket.state.in_(OPEN) & (RequestTicket.solve_due < now),
    )


def board(
    session: Session,
    now: datetime,
    handler: Handler,
    state: str,
    *,
    category: str | None = None,
    offset: int = 0,
    limit: int | None = 50,
) -> tuple[list[Card], int]:
    """The handler's tickets in one state (the same scope as `todo`): open ones overdue first, then oldest
    first; solved and closed ones latest first. The cards and the total."""
    overdue = case((_overdue_clause(now), 1), else_=0)  # type: ignore[arg-type]
    query = (
        select(RequestTicket, OrgUnit.name, overdue)
        .join(OrgUnit, OrgUnit.id == RequestTicket.unit_id)
        .where(RequestTicket.state == state, RequestTicket.primary_id.is_(None), _scope_filter(handler))  # type: ignore[arg-type]
    )
    if category:
        query = query.where(RequestTicket.category == category)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if state in OPEN:
        order: tuple[object, ...] = (overdue.desc(), RequestTicket.filed_at, RequestTicket.id)
    else:
        order = (RequestTicket.updated_at.desc(), RequestTicket.id.desc())
    rows = session.execute(query.order_by(*order).offset(offset).limit(limit)).all()  # type: ignore[arg-type]
    ids = [t.id for t, _, _ in rows]
    counts: dict[int, int] = {}
    if ids:
        group = func.coalesce(RequestTicket.primary_id, RequestTicket.id)
        counts = {
            int(g): int(n)
            for g, n in session.execute(
                select(group, func.count(func.distinct(RequestTicket.reporter_openid)))
                .where(RequestTicket.id.in_(ids) | RequestTicket.primary_id.in_(ids))
                .group_by(group)
            ).all()
        }
    cards = []
    for ticket, unit_name, late in rows:
        due = None
        if ticket.state == State.NEW and ticket.taken_at is None:
            due = ticket.take_due
        elif ticket.state in OPEN:
            due = ticket.solve_due
        cards.append(
            Card(
                ticket.number,
                ticket.category,
                ticket.urgent,
                ticket.complex,
                ticket.state,
                ticket.place,
                str(unit_name),
                ticket.filed_at,
                due,
                bool(late),
                ticket.taken_by_name,
                counts.get(ticket.id, 1),
            )
        )
    return cards, int(total)


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    kind: str
    actor_name: str | None
    note: str


@dataclass(frozen=True, slots=True)
class Detail:
    """One ticket as the console shows it to a handler: the view, who reported it, the full history with
    who did each step, the photos, and the other tickets of its group."""

    view: TicketView
    unit_path: str
    primary: str | None  # the group's primary when this ticket is linked to one
    linked: tuple[tuple[str, str | None], ...]  # (number, reporter name) of the group's other tickets
    reporter_name: str | None
    taken_by_name: str | None
    taken_by_openid: str | None
    steps: tuple[Step, ...]
    photos: tuple[tuple[int, str | None, str], ...]  # (seq, path when stored, status)


def ticket_detail(
    session: Session, now: datetime, handler: Handler, number: str, *, vault: Vault | None = None
) -> Detail:
    """A ticket of the handler's units with its history and group (Refused not_found / not_yours)."""
    ticket = by_number(session, number)
    path = unit_path_of(session, ticket)
    if not handler.may_handle(path):
        raise Refused("not_yours")
    group = group_of(session, ticket)
    steps = session.execute(
        select(RequestEvent.at, RequestEvent.kind, RequestEvent.actor_name, RequestEvent.note)
        .where(RequestEvent.ticket_id == ticket.id)
        .order_by(RequestEvent.at, RequestEvent.id)
    ).all()
    photos = session.execute(
        select(RequestPhoto.seq, RequestPhoto.path, RequestPhoto.status)
        .where(RequestPhoto.ticket_id == ticket.id)
        .order_by(RequestPhoto.seq)
    ).all()
    return Detail(
        view=view(session, ticket, now, vault=vault),
        unit_path=path,
        primary=group[0].number if group[0].id != ticket.id else None,
        linked=tuple((t.number, t.reporter_name) for t in group if t.id != ticket.id),
        reporter_name=ticket.reporter_name,
        taken_by_name=ticket.taken_by_name,
        taken_by_openid=ticket.taken_by_openid,
        steps=tuple(Step(at, str(kind), name, str(note)) for at, kind, name, note in steps),
        photos=tuple((int(seq), str(p) if p and st == "stored" else None, str(st)) for seq, p, st in photos),
    )


def reporter_phone(
    session: Session, now: datetime, handler: Handler, number: str, *, vault: Vault | None = None
) -> str | None:
    """The reporter's phone, for the handler who took the ticket only; every reading is audited."""
    ticket = by_number(session, number)
    path = unit_path_of(session, ticket)
    if not handler.may_handle(path) or ticket.taken_by_openid != handler.openid:
        raise Refused("not_yours")
    record(
        session, now, actor_for(openid=handler.openid), "request_reporter_phone", path, number=ticket.number
    )
    return vault.decrypt_phone(ticket.phone_enc) if vault is not None else None


# --- photos: their download and retention ------------------------------------------------------------

PHOTO_LIFETIME = timedelta(days=3)  # WeChat keeps a user's temporary media 3 days


@dataclass(frozen=True, slots=True)
class PendingPhoto:
    id: int
    ticket_id: int
    seq: int
    media_id: str
    created_at: datetime

    @property
    def path(self) -> str:
        """Where the photo is kept, relative to the data folder."""
        return f"requests/{self.ticket_id}/{self.seq}.jpg"

    def lost(self, now: datetime) -> bool:
        return now - self.created_at > PHOTO_LIFETIME


def pending_photos(session: Session, limit: int = 500) -> list[PendingPhoto]:
    rows = session.execute(
        select(
            RequestPhoto.id,
            RequestPhoto.ticket_id,
            RequestPhoto.seq,
            RequestPhoto.media_id,
            RequestPhoto.created_at,
        )
        .where(RequestPhoto.status == "pending")
        .order_by(RequestPhoto.id)
        .limit(limit)
    ).all()
    return [PendingPhoto(int(i), int(t), int(s), str(m), at) for i, t, s, m, at in rows]


def mark_photo(session: Session, photo_id: int, status: str, now: datetime, path: str | None = None) -> bool:
    """pending → stored (with its path) or expired; stored → deleted (its file removed past retention)."""
    photo = session.get(RequestPhoto, photo_id)
    allowed = {"stored": "pending", "expired": "pending", "deleted": "stored"}
    if photo is None or photo.status != allowed[status]:
        return False
    photo.status = status
    if status == "stored":
        photo.path, photo.stored_at = path, now
    elif status == "deleted":
        photo.path = None
    return True


def photos_past_retention(
    session: Session, now: datetime, days: int, limit: int = 500
) -> list[tuple[int, str]]:
    """(photo id, path) of stored photos kept longer than `days`."""
    rows = session.execute(
        select(RequestPhoto.id, RequestPhoto.path)
        .where(RequestPhoto.status == "stored", RequestPhoto.stored_at < now - timedelta(days=days))
        .order_by(RequestPhoto.id)
        .limit(limit)
    ).all()
    return [(int(i), str(p)) for i, p in rows if p]
