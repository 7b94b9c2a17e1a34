"""The monthly theme day (主题党日) and other meetings of 三会一课: which units hold one, its date by the
unit's rule, the event's details, who is invited, and what is due as of a moment (the three notices, the
close of the sign-in window).

Every unit that members attend holds its own theme day: the nearest 网格党支部 at or above a member's unit
(members of a building group attend their branch's; a 社区党委's own members attend the committee's). Its
rule is its own 主题党日 or the nearest ancestor's (bot.domain.calendar). Functions take a synchronous
Session (run them through `Database.run`) and the moment, and return plain data; no words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, literal, select
from sqlalchemy.orm import Session

from bot.domain.calendar import Holidays, effective_rule, theme_day_date, theme_day_material
from bot.domain.identity import Unit, branch_of
from bot.domain.importing.values import parse_theme_day, split_rule
from bot.domain.places import path_key
from bot.settings import Settings
from models import Attendance, Event, EventKind, EventRecord, EventStatus, Invitation, Member, OrgUnit
from models.db import dialect_insert, ids_in

# When the theme day's notices go, relative to its date (local time): a week before at 09:00, the day
# before at 18:00, the morning of the day at 08:00. A notice is due from its moment until the next one's
# (a job that ran late sends the latest due, not all three).
NOTICES: tuple[tuple[str, int, time], ...] = (
    ("week", -7, time(9, 0)),
    ("eve", -1, time(18, 0)),
    ("day", 0, time(8, 0)),
)


INVITATIONS: Table = Invitation.__table__  # type: ignore[assignment]  # declarative tables are Tables


@dataclass(frozen=True, slots=True)
class Window:
    opens: datetime
    closes: datetime

    def contains(self, when: datetime) -> bool:
        return self.opens <= when < self.closes


@dataclass(frozen=True, slots=True)
class Schedule:
    """How events are timed: the default start time, the sign-in window around it, the time zone."""

    zone: ZoneInfo
    start: time = time(9, 0)
    sign_in_before: timedelta = timedelta(minutes=30)
    sign_in_after: timedelta = timedelta(hours=3)
    default_rule: str = "每月20日"

    @classmethod
    def of(cls, settings: Settings) -> Schedule:
        return cls(
            zone=ZoneInfo(settings.timezone),
            start=settings.theme_day_start,
            sign_in_before=timedelta(minutes=settings.sign_in_before_min),
            sign_in_after=timedelta(minutes=settings.sign_in_after_min),
            default_rule=settings.theme_day_default_rule,
        )

    def window(self, event: Event) -> Window:
        return Window(event.starts_at - self.sign_in_before, event.starts_at + self.sign_in_after)

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.zone)

    def at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, self.zone).astimezone(UTC)


def month_of(when: date) -> str:
    return f"{when.year:04d}-{when.month:02d}"


def next_month(month: str) -> str:
    year, m = (int(part) for part in month.split("-"))
    return f"{year + (m == 12):04d}-{m % 12 + 1:02d}"


def theme_day_key(unit_id: int, month: str) -> str:
    return f"theme_day:{unit_id}:{month}"


# --- who holds one -----------------------------------------------------------------------------------


def load_units(session: Session) -> dict[int, Unit]:
    rows = session.execute(
        select(OrgUnit.id, OrgUnit.path, OrgUnit.kind, OrgUnit.parent_id).where(OrgUnit.active.is_(True))
    )
    return {int(i): Unit(str(path), str(kind), parent) for i, path, kind, parent in rows.all()}


@dataclass(frozen=True, slots=True)
class Holders:
    """Which unit holds the theme day of each unit's members (its branch), worked out once from the tree,
    so that a job over a whole street reads the members of one event at a time instead of everyone at once
    (memory flat in the number of members) and never walks the tree per event."""

    holder_of_unit: Mapping[int, int]  # unit id -> the id of the unit holding its members' theme day
    units_of: Mapping[int, tuple[int, ...]]  # holder id -> the units whose members attend it

    @classmethod
    def of(cls, units: Mapping[int, Unit]) -> Holders:
        by_path = {unit.path: unit_id for unit_id, unit in units.items()}
        holder_of: dict[int, int] = {}
        units_of: dict[int, list[int]] = {}
        for unit_id in units:
            path = branch_of(units, unit_id)
            holder = by_path.get(path) if path is not None else None
            if holder is not None:
                holder_of[unit_id] = holder
                units_of.setdefault(holder, []).append(unit_id)
        return cls(holder_of, {h: tuple(ids) for h, ids in units_of.items()})

    def holding(self, session: Session) -> list[int]:
        """The units that hold a theme day: those with at least one active member attending it."""
        used = session.scalars(select(Member.unit_id).where(Member.active.is_(True)).distinct())
        return sorted({self.holder_of_unit[u] for u in used if u in self.holder_of_unit})

    def members(self, session: Session, holder_id: int) -> list[int]:
        """The active members who attend `holder_id`'s events, by id."""
        unit_ids = self.units_of.get(holder_id, ())
        if not unit_ids:
            return []
        return [
            int(m)
            for m in session.scalars(
                select(Member.id)
                .where(Member.active.is_(True), Member.unit_id.in_(unit_ids))
                .order_by(Member.id)
            )
        ]


def members_of(session: Session, units: Mapping[int, Unit], holder_id: int) -> list[int]:
    """The active members who attend `holder_id`'s events (one event's worth; a job over many builds
    `Holders` once and asks it per event)."""
    return Holders.of(units).members(session, holder_id)


def rule_of(units: Mapping[int, Unit], rules: Mapping[str, str | None], holder_id: int, default: str) -> str:
    text, _ = effective_rule(units[holder_id].path, rules, default)
    return text or default


def unit_rules(session: Session) -> dict[str, str | None]:
    return {str(p): r for p, r in session.execute(select(OrgUnit.path, OrgUnit.theme_day_rule))}


# --- the month's events ------------------------------------------------------------------------------


def planned_day(rule_text: str, year: int, month: int, holidays: Holidays) -> tuple[date, date, str | None]:
    """(the day, the rule's day before any move, the holiday it moved for) for a rule's text."""
    text, keep = split_rule(rule_text)
    rule = parse_theme_day(text or "") or parse_theme_day("每月20日")
    assert rule is not None
    found = theme_day_date(rule, year, month, holidays, keep_on_holiday=keep)
    return found.date, found.planned, found.moved_for


def ensure_theme_days(
    session: Session,
    month: str,
    now: datetime,
    schedule: Schedule,
    holidays: Holidays,
    *,
    units: Mapping[int, Unit] | None = None,
    holder_ids: Iterable[int] | None = None,
    material_folder: Path | None = None,
) -> int:
    """Create the month's theme day for every holding unit that has none yet (date by its rule, topic and
    text from content/theme_days). Returns how many were created. Idempotent (unique key)."""
    units = units if units is not None else load_units(session)
    holders = list(holder_ids) if holder_ids is not None else Holders.of(units).holding(session)
    existing = set(
        session.scalars(select(Event.unit_id).where(Event.kind == "theme_day", Event.month == month))
    )
    todo = [h for h in holders if h not in existing and h in units]
    if not todo:
        return 0
    rules = unit_rules(session)
    year, m = (int(part) for part in month.split("-"))
    material = theme_day_material(year, m, material_folder)
    rows = []
    for holder in todo:
        day, planned, moved_for = planned_day(
            rule_of(units, rules, holder, schedule.default_rule), year, m, holidays
        )
        rows.append(
            {
                "key": theme_day_key(holder, month),
                "kind": EventKind.THEME_DAY.value,
                "unit_id": holder,
                "month": month,
                "planned_date": planned,
                "moved_for": moved_for,
                "date_fixed": False,
                "starts_at": schedule.at(day, schedule.start),
                "topic": material.topic,
                "text": material.text,
                "place": "",
                "status": EventStatus.PLANNED.value,
                "created_at": now,
                "updated_at": now,
            }
        )
    insert = dialect_insert(session)
    for start in range(0, len(rows), 500):
        session.execute(
            insert(Event).values(rows[start : start + 500]).on_conflict_do_nothing(index_elements=["key"])
        )
    return len(rows)


def theme_day_of(
    session: Session, holder_id: int, month: str, now: datetime, schedule: Schedule, holidays: Holidays
) -> Event:
    """The unit's theme day of the month, created if it is not there yet."""
    key = theme_day_key(holder_id, month)
    event = session.scalar(select(Event).where(Event.key == key))
    if event is None:
        ensure_theme_days(session, month, now, schedule, holidays, holder_ids=[holder_id])
        event = session.scalar(select(Event).where(Event.key == key))
    assert event is not None
    return event


def holder_for_path(session: Session, branch_path: str | None) -> int | None:
    if branch_path is None:
        return None
    found = session.scalar(select(OrgUnit.id).where(OrgUnit.path == branch_path))
    return int(found) if found is not None else None


def invite(session: Session, event: Event, member_ids: Sequence[int], now: datetime) -> None:
    """Invite members (again: those already invited are left as they are)."""
    if not member_ids:
        return
    # executemany of one statement: a multi-row VALUES would be compiled afresh for every event.
    statement = dialect_insert(session)(INVITATIONS).on_conflict_do_nothing(
        index_elements=["event_id", "member_id"]
    )
    rows = [{"event_id": event.id, "member_id": m, "created_at": now} for m in member_ids]
    for start in range(0, len(rows), 1000):
        session.execute(statement, rows[start : start + 1000])


# --- what is due -------------------------------------------------------------------------------------


def notice_moments(event: Event, schedule: Schedule) -> list[tuple[str, datetime]]:
    day = schedule.local(event.starts_at).date()
    return [(kind, schedule.at(day + timedelta(days=offset), clock)) for kind, offset, clock in NOTICES]


def due_notice(event: Event, schedule: Schedule, now: datetime) -> str | None:
    """The notice of an event due as of `now`: the latest whose moment has come, before the event starts."""
    if event.status != EventStatus.PLANNED.value or now >= event.starts_at:
        return None
    due = None
    for kind, moment in notice_moments(event, schedule):
        if now >= moment:
            due = kind
    return due


# --- views -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answers:
    yes: list[tuple[int, str]]
    leave: list[tuple[int, str, str]]  # member, name, reason
    none: list[tuple[int, str]]


def answers(session: Session, event_id: int) -> Answers:
    """Who comes, who asked leave (with reasons) and who has not answered, by member number. Before a
    theme day's first notice only those who answered early have an invitation: the branch's other members
    count as not answered yet (an ad hoc meeting invites its attendees when it is called)."""
    rows = list(
        session.execute(
            select(Member.id, Member.name, Invitation.answer, Invitation.reason, Member.number)
            .join(Member, Member.id == Invitation.member_id)
            .where(Invitation.event_id == event_id)
        )
    )
    event = session.get(Event, event_id)
    if (
        event is not None
        and event.kind == EventKind.THEME_DAY.value
        and event.status == EventStatus.PLANNED.value
    ):
        invited = {member_id for member_id, *_ in rows}
        expected = [m for m in members_of(session, load_units(session), event.unit_id) if m not in invited]
        if expected:
            rows += session.execute(
                select(Member.id, Member.name, literal(None), literal(None), Member.number).where(
                    Member.id.in_(expected)
                )
            )
    rows.sort(key=lambda row: row[4])
    yes: list[tuple[int, str]] = []
    leave: list[tuple[int, str, str]] = []
    none: list[tuple[int, str]] = []
    for member_id, name, answer, reason, _number in rows:
        if answer == "yes":
            yes.append((member_id, name))
        elif answer == "leave":
            leave.append((member_id, name, reason or ""))
        else:
            none.append((member_id, name))
    return Answers(yes, leave, none)


@dataclass(frozen=True, slots=True)
class Outcome:
    present: list[str]
    leave: list[tuple[str, str]]
    absent: list[str]
    invited: int

    @property
    def rate(self) -> float:
        return len(self.present) / self.invited if self.invited else 0.0


def outcome(session: Session, event_id: int) -> Outcome:
    """Present, on leave, absent (by name) and the attendance rate: present / invited."""
    present_ids = set(session.scalars(select(Attendance.member_id).where(Attendance.event_id == event_id)))
    rows = list(
        session.execute(
            select(Member.id, Member.name, Invitation.answer, Invitation.reason)
            .join(Member, Member.id == Invitation.member_id)
            .where(Invitation.event_id == event_id)
            .order_by(Member.number)
        )
    )
    present: list[str] = []
    leave: list[tuple[str, str]] = []
    absent: list[str] = []
    invited = 0
    for member_id, name, answer, reason in rows:
        invited += 1
        if member_id in present_ids:
            present.append(name)
        elif answer == "leave":
            leave.append((name, reason or ""))
        else:
            absent.append(name)
    # Someone signed in by the secretary without an invitation (joined the branch that day) counts too.
    extra = present_ids - {m for m, *_ in rows}
    if extra:
        present += list(session.scalars(select(Member.name).where(Member.id.in_(extra))))
        invited += len(extra)
    return Outcome(present, leave, absent, invited)


@dataclass(frozen=True, slots=True)
class BranchMonth:
    path: str
    name: str
    event_id: int | None
    starts_at: datetime | None
    held: bool
    rate: float
    has_record: bool
    closed: bool


def in_overview(path: str, scope_path: str) -> bool:
    """Whether a unit's theme day is in the overview of `scope_path`: the units below it ("" every unit)."""
    return not scope_path or path.startswith(scope_path + "/")


def month_overview(session: Session, scope_path: str, month: str) -> list[BranchMonth]:
    """This month's theme day of every unit below `scope_path` that holds one: held (someone attended),
    attendance rate, record kept."""
    return overview_by_month(session, scope_path, [month])[month]


def overview_by_month(
    session: Session, scope_path: str, months: Sequence[str]
) -> dict[str, list[BranchMonth]]:
    """`month_overview` for each of `months` (the dashboard's trend), with the counts in grouped queries."""
    db = session.connection()  # Core rows: a street's year is 24 000 events
    events = [
        (row, str(row.path), str(row.name))
        for row in db.execute(
            select(Event.id, Event.month, Event.starts_at, Event.status, OrgUnit.path, OrgUnit.name)
            .join(OrgUnit, OrgUnit.id == Event.unit_id)
            .where(
                Event.kind == EventKind.THEME_DAY.value,
                Event.month.in_(list(months)),
                Event.status != EventStatus.CANCELLED.value,
            )
            .order_by(OrgUnit.path)
        )
        if in_overview(row.path, scope_path)
    ]
    ids = [event.id for event, _, _ in events]
    present: dict[int, int] = {}
    invited: dict[int, int] = {}
    recorded: set[int] = set()
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        for table, into in ((Attendance, present), (Invitation, invited)):
            for event_id, n in db.execute(
                select(table.event_id, func.count())
                .where(ids_in(db, table.event_id, part))
                .group_by(table.event_id)
            ):
                into[int(event_id)] = int(n)
        recorded.update(
            int(e)
            for (e,) in db.execute(select(EventRecord.event_id).where(ids_in(db, EventRecord.event_id, part)))
        )
    found: dict[str, list[BranchMonth]] = {month: [] for month in months}
    for event, path, name in events:
        came, asked = present.get(event.id, 0), invited.get(event.id, 0)
        found.setdefault(event.month, []).append(
            BranchMonth(
                path=path,
                name=name,
                event_id=event.id,
                starts_at=event.starts_at,
                held=came > 0,
                rate=came / asked if asked else 0.0,
                has_record=event.id in recorded,
                closed=event.status == EventStatus.CLOSED.value,
            )
        )
    return {
        month: sorted(items, key=lambda branch: path_key(branch.path))  # 第二 before 第三
        for month, items in found.items()
    }
