"""居民诉求's rules that are not a state change: categories and urgency (content/requests.yaml), the
deadlines (clock hours, or working time with statutory holidays and 调休 from chinesecalendar), places named
in a report, routing (building → the 网格党支部 covering it, else the 社区党委), who handles a unit's
tickets, and the views the chat shows. Import the public names from bot.domain.requests."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

import cn2an
import yaml
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from bot.domain.calendar import Holidays
from bot.domain.policy import Action, Identity, Role, may, within
from bot.domain.privacy import Vault, mask_phone
from bot.outbound.notices import add_system_notice, secretaries_of_unit
from models import (
    Admin,
    Binding,
    Building,
    Member,
    OrgUnit,
    RequestEvent,
    RequestTicket,
    Staff,
    UnitKind,
)

if TYPE_CHECKING:
    from bot.settings import Settings

CATEGORIES: tuple[str, ...] = ("物业维修", "环境卫生", "治安安全", "邻里纠纷", "养老助残", "政策咨询", "其他")

Say = Callable[..., str]


class State:
    NEW = "new"  # 待接单
    TAKEN = "taken"  # 办理中
    SOLVED = "solved"  # 待评价
    CLOSED = "closed"  # 已办结 / 已关闭


OPEN = (State.NEW, State.TAKEN)
OUTCOMES = {1: "satisfied", 2: "basic", 3: "unsatisfied"}
UNRATED = "unrated"
GRID_WORKER = "网格员"


class Refused(Exception):
    """The action is not allowed: `reason` is one of not_found, not_yours, state, own_ticket, too_late,
    unknown_unit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- content/requests.yaml -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Category:
    name: str
    keywords: frozenset[str]
    post: str | None


@dataclass(frozen=True, slots=True)
class RequestWords:
    categories: tuple[_Category, ...]
    other: str
    urgent: tuple[str, ...]

    def post_for(self, category: str) -> str | None:
        return next((c.post for c in self.categories if c.name == category), None)


@cache
def request_words() -> RequestWords:
    """content/requests.yaml, read once."""
    doc = yaml.safe_load((resources.files("content") / "requests.yaml").read_text(encoding="utf-8")) or {}
    categories = tuple(
        _Category(str(c["name"]), frozenset(str(k) for k in c.get("keywords") or ()), c.get("post") or None)
        for c in doc.get("categories") or ()
    )
    return RequestWords(
        categories, str(doc.get("other") or "其他"), tuple(str(w) for w in doc.get("urgent") or ())
    )


@dataclass(frozen=True, slots=True)
class Classified:
    category: str
    urgent: bool


def classify(tokens: Sequence[str], text: str) -> Classified:
    """The category with the most of its keywords among the jieba tokens (a tie: the first in
    content/requests.yaml's order; none: 其他) — "电梯又坏了，老人下不了楼" is a lift to mend, not elderly
    care; urgent when an urgent word is a substring of the text."""
    words = request_words()
    present = set(tokens)
    best, hits = words.other, 0
    for c in words.categories:
        found = len(c.keywords & present)
        if found > hits:
            best, hits = c.name, found
    category = best
    return Classified(category, any(word in text for word in words.urgent))


# --- deadlines -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestRules:
    take_hours: float = 24
    take_hours_urgent: float = 2
    solve_days: float = 7
    solve_days_complex: float = 15
    working_days: bool = (
        False  # count working time (chinesecalendar, holidays and 调休) instead of clock hours
    )
    quiet_start: time = time(8)
    quiet_end: time = time(
        20
    )  # job reminders/escalations of non-urgent tickets wait for quiet_start–quiet_end
    repeat_minutes: int = 10
    merge_hours: int = 24
    rating_change_hours: int = 12
    rating_wait_days: int = 3
    timezone: str = "Asia/Shanghai"
    gas_phone: str = ""  # shown with the emergency numbers
    holidays: Holidays | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, holidays: Holidays | None = None) -> RequestRules:
        return cls(
            take_hours=settings.request_take_hours,
            take_hours_urgent=settings.request_take_hours_urgent,
            solve_days=settings.request_solve_days,
            solve_days_complex=settings.request_solve_days_complex,
            working_days=settings.request_working_days,
            quiet_start=settings.request_quiet_start,
            quiet_end=settings.request_quiet_end,
            timezone=settings.timezone,
            gas_phone=settings.request_gas_phone,
            holidays=holidays
            if holidays is not None or not settings.request_working_days
            else Holidays.load(),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def take_due(self, filed: datetime, urgent: bool) -> datetime:
        if urgent:  # danger to life or property: clock hours, holiday or not
            return filed + timedelta(hours=self.take_hours_urgent)
        return self._after(filed, timedelta(hours=self.take_hours))

    def solve_due(self, filed: datetime, complex_: bool) -> datetime:
        days = self.solve_days_complex if complex_ else self.solve_days
        return self._after(filed, timedelta(days=days))

    def _after(self, start: datetime, span: timedelta) -> datetime:
        if not self.working_days:
            return start + span
        return add_working(start, span, self.zone, self.holidays or Holidays.load())

    def quiet(self, now: datetime) -> bool:
        """Outside quiet_start–quiet_end local time: the job's messages of non-urgent tickets wait."""
        local = now.astimezone(self.zone).time()
        return not (self.quiet_start <= local < self.quiet_end)


def add_working(start: datetime, span: timedelta, zone: ZoneInfo, holidays: Holidays) -> datetime:
    """`start` + `span` counting only the time of working days (Monday–Friday that are not statutory holidays,
    and 调休 make-up working days), local time: a ticket filed on a Friday evening with 24 hours is due on
    Monday evening; one filed on a holiday starts counting at the next working day's midnight."""
    cursor = start.astimezone(zone).replace(tzinfo=None)
    left = span
    for _ in range(3660):  # ten years of days: a span never needs more
        if not holidays.is_workday(cursor.date()):
            cursor = datetime.combine(cursor.date() + timedelta(days=1), time())
            continue
        midnight = datetime.combine(cursor.date() + timedelta(days=1), time())
        step = min(left, midnight - cursor)
        cursor += step
        left -= step
        if left <= timedelta(0):
            break
    return cursor.replace(tzinfo=zone).astimezone(UTC)


# --- places ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    building_id: int | None
    door: str | None  # "2单元" / "2单元301" as found
    label: str  # "3号楼2单元" ("" when unknown)


_NUM = r"[0-9]+|[一二三四五六七八九十两]+"
_BUILDING = re.compile(rf"({_NUM})\s*(?:号楼|号栋|栋|幢|号院)")
_DOOR = re.compile(rf"({_NUM})\s*单元(?:\s*([0-9]{{2,5}})\s*(?:室|号)?)?")


def _number(raw: str) -> int | None:
    if raw.isdigit():
        return int(raw)
    try:
        return int(cn2an.cn2an(raw.replace("两", "二"), "normal"))
    except ValueError:
        return None


def _building_number(name: str) -> int | None:
    found = _BUILDING.search(unicodedata.normalize("NFKC", name))
    return _number(found.group(1)) if found else None


def _natural(name: str) -> tuple[int, str]:
    number = _building_number(name)
    return (number if number is not None else 10**6, name)


def building_choices(session: Session) -> list[tuple[int, str]]:
    """(building id, name) in natural order (2号楼 before 10号楼), for a numbered list."""
    rows = session.execute(select(Building.id, Building.name)).all()
    return sorted(((int(i), str(n)) for i, n in rows), key=lambda row: _natural(row[1]))


def find_place(session: Session, text: str) -> Place:
    """The building named in the text (its name as written, or "3号楼", "3栋", "三号楼") and a door after
    it ("2单元", "2单元301")."""
    plain = unicodedata.normalize("NFKC", text)
    # Only the buildings whose names occur in the text, found by the database (a street has thousands:
    # reading and matching each of them for every report was most of the cost of filing one).
    named = session.execute(
        select(Building.id, Building.name).where(literal(plain).contains(Building.name, autoescape=False))
    ).all()
    building: tuple[int, str] | None = None
    rest = plain
    for building_id, name in sorted(((int(i), str(n)) for i, n in named), key=lambda row: -len(row[1])):
        found_name = re.search(r"(?<![0-9一二三四五六七八九十])" + re.escape(name), plain)
        if found_name is not None:  # not "2号楼" inside "12号楼"
            building, rest = (building_id, name), plain[found_name.end() :]
            break
    if building is None:
        found = _BUILDING.search(plain)
        number = _number(found.group(1)) if found else None  # "三号楼", "3栋"
        if found is not None and number is not None:
            buildings = building_choices(session)
            building = next(((i, n) for i, n in buildings if _building_number(n) == number), None)
            rest = plain[found.end() :]
    door_match = _DOOR.search(rest if building is not None else plain)
    door = None
    if door_match is not None:
        unit_no = _number(door_match.group(1))
        door = f"{unit_no}单元{door_match.group(2) or ''}" if unit_no is not None else None
    label = (building[1] if building else "") + (door or "")
    return Place(building[0] if building else None, door, label)


# --- routing and handlers -------------------------------------------------------------------------------


def _community_of(session: Session, unit: OrgUnit | None) -> OrgUnit | None:
    here = unit
    for _ in range(10):
        if here is None:
            break
        if here.kind == UnitKind.COMMUNITY.value:
            return here
        here = session.get(OrgUnit, here.parent_id) if here.parent_id is not None else None
    return session.scalars(
        select(OrgUnit)
        .where(OrgUnit.kind == UnitKind.COMMUNITY.value, OrgUnit.active.is_(True))
        .order_by(OrgUnit.id)
        .limit(1)
    ).first()


def community_of(session: Session, unit_id: int | None) -> OrgUnit | None:
    """The 社区党委 at or above the unit (the first community when the unit is unknown)."""
    return _community_of(session, session.get(OrgUnit, unit_id) if unit_id is not None else None)


def route(session: Session, building_id: int | None) -> OrgUnit:
    """Who owns a new ticket (首接): the 网格党支部 whose 覆盖楼栋 lists the building, else the 社区党委
    (the root unit when the tree has none). The building's unit is the deepest active unit listing it
    (`sync_places`): a branch, or a group whose branch is the one above it — found by key, not by reading
    every branch of a city for each report."""
    building = session.get(Building, building_id) if building_id is not None else None
    covering = session.get(OrgUnit, building.unit_id) if building and building.unit_id else None
    here = covering
    for _ in range(10):  # a group's building: the branch above it
        if here is None or here.kind == UnitKind.COMMUNITY.value:
            break
        if here.kind == UnitKind.BRANCH.value and here.active:
            return here
        here = session.get(OrgUnit, here.parent_id) if here.parent_id is not None else None
    community = _community_of(session, covering)
    if community is not None:
        return community
    root = session.scalars(select(OrgUnit).order_by(OrgUnit.depth, OrgUnit.id).limit(1)).first()
    if root is None:
        raise Refused("unknown_unit")
    return root


@dataclass(frozen=True, slots=True)
class Handlers:
    openids: tuple[str, ...]  # bound grid workers
    member_ids: tuple[int, ...]  # bound members holding the category's post, or the unit's secretaries


@dataclass(frozen=True, slots=True)
class UnitPeople:
    """Who may handle a unit's tickets, whatever their category: its bound grid workers, and its bound
    members (the grid's subtree; the community's own members for a community) with their volunteer posts."""

    unit_id: int
    openids: tuple[str, ...]
    posts: tuple[tuple[int, tuple[str, ...]], ...]  # (member id, posts), members holding a post


def unit_people(session: Session, unit: OrgUnit, *, posts: bool = True) -> UnitPeople:
    """The unit's UnitPeople (`posts` False: its grid workers only)."""
    openids = session.scalars(
        select(Binding.openid)
        .join(Staff, Staff.id == Binding.staff_id)
        .where(Staff.unit_id == unit.id, Staff.role == GRID_WORKER, Staff.active.is_(True))
        .order_by(Staff.id)
    ).all()
    held: list[tuple[int, tuple[str, ...]]] = []
    if posts:
        members = select(Member.id, Member.volunteer_posts).join(Binding, Binding.member_id == Member.id)
        members = members.join(OrgUnit, OrgUnit.id == Member.unit_id).where(Member.active.is_(True))
        if unit.kind == UnitKind.BRANCH.value:
            members = members.where((OrgUnit.id == unit.id) | OrgUnit.path.startswith(unit.path + "/"))
        else:
            members = members.where(OrgUnit.id == unit.id)
        held = [(int(i), tuple(p)) for i, p in session.execute(members.order_by(Member.id)) if p]
    return UnitPeople(unit.id, tuple(str(o) for o in openids), tuple(held))


def handlers_of(people: UnitPeople, category: str, secretaries: Callable[[], Sequence[int]]) -> Handlers:
    """Who is told of a ticket of `category` the unit owns: its grid workers and its members holding the
    category's volunteer post; nobody of those: `secretaries()` (the unit's)."""
    post = request_words().post_for(category)
    member_ids = [i for i, posts in people.posts if post in posts] if post else []
    if not people.openids and not member_ids:
        member_ids = list(secretaries())
    return Handlers(people.openids, tuple(member_ids))


def unit_handlers(session: Session, unit: OrgUnit, category: str) -> Handlers:
    """Who is told of a ticket the unit owns: its grid workers bound to WeChat, and its bound members (the
    grid's subtree; the community's own members for a community) holding the category's volunteer post;
    nobody of those: the unit's secretaries."""
    people = unit_people(session, unit, posts=request_words().post_for(category) is not None)
    return handlers_of(people, category, lambda: secretaries_of_unit(session, unit.id))


def notify(
    session: Session,
    now: datetime,
    key: str,
    text: str,
    *,
    openids: Sequence[str] = (),
    member_ids: Sequence[int] = (),
    new_key: bool = False,
) -> None:
    if openids or member_ids:
        add_system_notice(
            session,
            now,
            key=key,
            text=text,
            openids=list(dict.fromkeys(openids)),
            member_ids=list(dict.fromkeys(member_ids)),
            new_key=new_key,
        )


def notify_handlers(
    session: Session,
    now: datetime,
    key: str,
    text: str,
    ticket: RequestTicket,
    cache: dict[tuple[int, str], Handlers] | None = None,
    unit: OrgUnit | None = None,
    new_key: bool = False,
) -> None:
    """Tell the owning unit's handlers (`cache`: looked up once per unit and category, for a job's batch;
    `unit`: the owning unit when the caller has it; `new_key`: see add_system_notice)."""
    found = cache.get((ticket.unit_id, ticket.category)) if cache is not None else None
    if found is None:
        if unit is None or unit.id != ticket.unit_id:
            unit = session.get(OrgUnit, ticket.unit_id)
        if unit is None:
            return
        found = unit_handlers(session, unit, ticket.category)
        if cache is not None:
            cache[(ticket.unit_id, ticket.category)] = found
    notify(session, now, key, text, openids=found.openids, member_ids=found.member_ids, new_key=new_key)


def event(
    session: Session,
    ticket: RequestTicket,
    now: datetime,
    kind: str,
    actor: str = "",
    name: str | None = None,
    note: str = "",
    *,
    flush: bool = True,
) -> RequestEvent:
    """One step of the ticket's history; `flush` False when its id is not needed (the job's batches)."""
    row = RequestEvent(ticket_id=ticket.id, kind=kind, actor=actor, actor_name=name, note=note, at=now)
    session.add(row)
    if flush:
        session.flush()
    return row


# --- who handles, and what they see ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Handler:
    """Who acts: a grid worker (staff) or a member, or a secretary/admin."""

    openid: str
    name: str
    staff_id: int | None = None
    member_id: int | None = None
    unit_paths: tuple[str, ...] = ()  # the units whose tickets they may handle (subtrees)

    def may_handle(self, unit_path: str) -> bool:
        return any(within(unit_path, scope) for scope in self.unit_paths)

    @property
    def role(self) -> str:
        return GRID_WORKER if self.staff_id is not None else "党员"


def _branch_path(session: Session, unit: OrgUnit | None) -> str | None:
    here = unit
    for _ in range(10):
        if here is None:
            break
        if here.kind == UnitKind.BRANCH.value:
            return here.path
        here = session.get(OrgUnit, here.parent_id) if here.parent_id is not None else None
    return unit.path if unit is not None else None


def _openid_of(session: Session, *, member_id: int | None = None, staff_id: int | None = None) -> str:
    column = Binding.member_id if member_id is not None else Binding.staff_id
    return str(
        session.scalar(
            select(Binding.openid).where(column == (member_id if member_id is not None else staff_id))
        )
        or ""
    )


def handler_for_staff(session: Session, staff_id: int) -> Handler | None:
    """A grid worker handles their grid's tickets (its subtree)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        return None
    unit = session.get(OrgUnit, staff.unit_id)
    if unit is None:
        return None
    return Handler(
        _openid_of(session, staff_id=staff_id), staff.name, staff_id=staff.id, unit_paths=(unit.path,)
    )


def handler_for_member(session: Session, member_id: int) -> Handler | None:
    """A secretary (书记, 副书记) handles their unit's subtree, a 委员 their branch's, a member holding a
    volunteer post of a category their branch's; other members handle none (None)."""
    member = session.get(Member, member_id)
    if member is None or not member.active:
        return None
    unit = session.get(OrgUnit, member.unit_id)
    if unit is None:
        return None
    posts = {c.post for c in request_words().categories if c.post}
    if member.post in ("书记", "副书记"):
        path: str | None = unit.path
    elif member.post == "委员" or posts & set(member.volunteer_posts or []):
        path = _branch_path(session, unit)
    else:
        return None
    if path is None:
        return None
    return Handler(
        _openid_of(session, member_id=member_id), member.name, member_id=member.id, unit_paths=(path,)
    )


def handler_for_admin(session: Session, openid: str, found: Handler | None = None) -> Handler | None:
    """An administrator (`partybot admin add`) handles every unit's tickets (scope ""): as the grid worker
    or member they also are (`found`, widened), else under the name they were added with."""
    admin = session.scalar(select(Admin).where(Admin.openid == openid)) if openid else None
    if admin is None:
        return found
    if found is not None:
        return Handler(found.openid or openid, found.name, found.staff_id, found.member_id, ("",))
    return Handler(openid, admin.name, unit_paths=("",))


def handler_for(session: Session, identity: Identity) -> Handler | None:
    """Who `identity` handles tickets as (chat's 待办 and the console's board): a grid worker for their grid,
    else a member for what their post gives them, an admin for every unit; None when they handle none."""
    if not may(identity, Action.HANDLE_REQUESTS):
        return None
    found = handler_for_staff(session, identity.staff_id) if identity.staff_id is not None else None
    if found is None and identity.member_id is not None:
        found = handler_for_member(session, identity.member_id)
    return handler_for_admin(session, identity.openid, found) if Role.ADMIN in identity.roles else found


@dataclass(frozen=True, slots=True)
class TicketView:
    number: str
    category: str
    urgent: bool
    complex: bool
    state: str  # new, taken, solved, closed (待接单, 办理中, 待评价, 已办结/已关闭)
    text: str
    place: str
    unit_name: str
    filed_at: datetime
    take_due: datetime
    solve_due: datetime
    taken_by: str | None  # "网格员 张" / "党员 王" (surname only) for the resident
    reporters: int
    rating: int | None
    overdue: bool
    phone_masked: str | None  # 138****1234 (handlers)
    history: tuple[tuple[datetime, str, str], ...]  # (at, kind, note)
    outcome: str | None = None


RATING_OF = {v: k for k, v in OUTCOMES.items()}


def taken_label(ticket: RequestTicket) -> str | None:
    if not ticket.taken_by_name:
        return None
    role = GRID_WORKER if ticket.taken_by_staff_id is not None else "党员"
    return f"{role} {ticket.taken_by_name[:1]}"


def group_of(session: Session, ticket: RequestTicket) -> list[RequestTicket]:
    """The ticket's group: its primary first, then the linked tickets (oldest first)."""
    primary = session.get(RequestTicket, ticket.primary_id) if ticket.primary_id is not None else ticket
    assert primary is not None
    linked = session.scalars(
        select(RequestTicket).where(RequestTicket.primary_id == primary.id).order_by(RequestTicket.id)
    ).all()
    return [primary, *linked]


def is_overdue(ticket: RequestTicket, now: datetime) -> bool:
    if ticket.state == State.NEW and ticket.taken_at is None and now > ticket.take_due:
        return True
    return ticket.state in OPEN and now > ticket.solve_due


def view(session: Session, ticket: RequestTicket, now: datetime, *, vault: Vault | None = None) -> TicketView:
    """What the chat shows of a ticket; `vault`: the phone masked (handlers only; residents pass None)."""
    unit = session.get(OrgUnit, ticket.unit_id)
    history = session.execute(
        select(RequestEvent.at, RequestEvent.kind, RequestEvent.note)
        .where(RequestEvent.ticket_id == ticket.id)
        .order_by(RequestEvent.at, RequestEvent.id)
    ).all()
    phone = vault.decrypt_phone(ticket.phone_enc) if vault is not None else None
    return TicketView(
        number=ticket.number,
        category=ticket.category,
        urgent=ticket.urgent,
        complex=ticket.complex,
        state=ticket.state,
        text=ticket.text,
        place=ticket.place,
        unit_name=unit.name if unit else "",
        filed_at=ticket.filed_at,
        take_due=ticket.take_due,
        solve_due=ticket.solve_due,
        taken_by=taken_label(ticket),
        reporters=len({t.reporter_openid for t in group_of(session, ticket)}),
        rating=RATING_OF.get(ticket.outcome or ""),
        overdue=is_overdue(ticket, now),
        phone_masked=mask_phone(phone) or None,
        history=tuple((at, str(kind), str(note)) for at, kind, note in history),
        outcome=ticket.outcome,
    )


# --- the deadline job's steps ------------------------------------------------------------------------------

STEPS = ("remind80", "escalate1", "escalate2")
RATE_STEPS = ("rate_reminder", "unrated")


class Timed(Protocol):
    """What step_times and schedule read of a ticket: a RequestTicket, or the job's lighter row."""

    state: str
    taken_at: datetime | None
    take_step: int
    solve_step: int
    rate_step: int
    filed_at: datetime
    take_due: datetime
    solve_due: datetime
    solved_at: datetime | None
    next_step_at: datetime | None


def step_times(ticket: Timed, rules: RequestRules) -> list[tuple[str, str, datetime]]:
    """(phase, step, when) of the job's steps still to do for the ticket, soonest first. Take phase (not
    taken yet): 80 % of the time to take it → a reminder to its handlers; take_due → the branch's secretary;
    take_due + the same span again → the community's secretary (吹哨). Solve phase (open): the same with
    solve_due (the reminder to whoever took it). Rating (solved, waiting for ratings): a reminder a day before
    rating_wait_days are up, then closed unrated."""
    found: list[tuple[str, str, datetime]] = []
    if ticket.state == State.NEW and ticket.taken_at is None and ticket.take_step < len(STEPS):
        span = ticket.take_due - ticket.filed_at
        times = (ticket.filed_at + span * 0.8, ticket.take_due, ticket.take_due + span)
        found += [("take", STEPS[i], times[i]) for i in range(ticket.take_step, len(STEPS))]
    if ticket.state in OPEN and ticket.solve_step < len(STEPS):
        span = ticket.solve_due - ticket.filed_at
        times = (ticket.filed_at + span * 0.8, ticket.solve_due, ticket.solve_due + span)
        found += [("solve", STEPS[i], times[i]) for i in range(ticket.solve_step, len(STEPS))]
    if ticket.state == State.SOLVED and ticket.solved_at is not None and ticket.rate_step < len(RATE_STEPS):
        wait = timedelta(days=rules.rating_wait_days)
        rate_times = (ticket.solved_at + wait - min(timedelta(days=1), wait / 2), ticket.solved_at + wait)
        found += [("rate", RATE_STEPS[i], rate_times[i]) for i in range(ticket.rate_step, len(RATE_STEPS))]
    return sorted(found, key=lambda step: step[2])


def schedule(ticket: Timed, rules: RequestRules) -> None:
    """Set when the job next has something to do for the ticket (None: nothing)."""
    steps = step_times(ticket, rules)
    ticket.next_step_at = steps[0][2] if steps else None


def local_time_fields(moment: datetime, rules: RequestRules) -> dict[str, int]:
    """A moment as the fields of the `request_notice_time` text (local time)."""
    local = moment.astimezone(rules.zone)
    return {"month": local.month, "day": local.day, "hour": local.hour, "minute": local.minute}


def place_label(say: Say, ticket: RequestTicket) -> str:
    return ticket.place or say("request_notice_no_place")
