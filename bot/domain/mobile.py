"""流动党员 (mobile members): who is registered as away (流出), their monthly report-in (a short text, and a
location only with separate consent, reduced to province/city/district unless a second consent keeps the
precise coordinates for a while), who is due a reminder or silent for three months, and the incoming
register (流入) whose confirmed entries become guest members of a branch here.

A member is mobile when the roster says so (人员类型 流动, or a 流动去向) or a secretary registered them
(`流动登记`, which sets the same 流动去向, kept over a roster re-import) and the registration was not ended.
A confirmed 流入 registrant is a Member row of kind `流入` in the branch they chose, bound to their openid:
everything that works on members (theme-day invitations, notices, sign-in, study, points) includes them
without a special case; the roster import never counts them missing.

Functions take a synchronous Session (run them through `Database.run`) and return plain data; no words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from bot.domain import audit
from bot.domain.binding import in_scope
from bot.domain.places import natural_key
from bot.domain.points import award
from bot.domain.policy import within
from bot.outbound.notices import add_system_notice, secretaries_for
from models import Binding, IncomingMember, Member, MobileRegistration, MobileReport, OrgUnit
from models.db import ids_in

MOBILE_KIND = "流动"
GUEST_KIND = "流入"
REPORT_IN = "report_in"  # the points rule (content/points.yaml)
TEXT_LIMITS = (2, 100)
SILENT_MONTHS = 3  # this month and the two before without a report: lost contact
REMIND_DAY = 25  # from the 25th (local), members who have not reported are reminded


def month_of(when: datetime, zone: ZoneInfo) -> str:
    local = when.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def previous_month(month: str, back: int = 1) -> str:
    year, m = (int(part) for part in month.split("-"))
    index = year * 12 + (m - 1) - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --- where, from WeChat's label -----------------------------------------------------------------------

_PROVINCE = (
    r"(北京市|天津市|上海市|重庆市|[^省市区县]{2,7}?省|[^区市县]{2,10}?自治区|香港特别行政区|澳门特别行政区)?"
)
_CITY = r"([^省区县]{1,10}?(?:市|自治州|地区|盟))?"
_DISTRICT = r"([^省区县旗市]{1,10}?(?:区|县|市|旗))?"
_PLACE = re.compile(_PROVINCE + _CITY + _DISTRICT)


def district_of(label: str | None) -> str:
    """`浙江省杭州市余杭区文一西路969号` → `浙江省杭州市余杭区`: WeChat's address label of a location, reduced
    to province, city and district (DOMAIN.md: city/district level by default). "" when none is found."""
    text = re.sub(r"\s+", "", label or "")
    found = _PLACE.match(text)
    if found is None:
        return ""
    province, city, district = found.groups()
    if not city and not district:
        return ""  # a province alone (or nothing): too coarse to be a place
    return "".join(part for part in (province, city, district) if part)


# --- who is mobile ------------------------------------------------------------------------------------


def registration_of(session: Session, member_id: int) -> MobileRegistration | None:
    return session.scalar(select(MobileRegistration).where(MobileRegistration.member_id == member_id))


def is_mobile(member: Member, registration: MobileRegistration | None) -> bool:
    return _mobile_by(
        member.active, member.kind, member.mobile_destination, registration.ended_at if registration else None
    )


def _mobile_by(active: bool, kind: str, destination: str | None, ended_at: datetime | None) -> bool:
    """The rule of `is_mobile`, over the columns it reads."""
    if not active or kind == GUEST_KIND:
        return False
    if ended_at is not None:
        return False
    return kind == MOBILE_KIND or bool(destination)


Q = TypeVar("Q", bound="Select[*tuple[Any, ...]]")


def _candidates(query: Q, scope_path: str) -> Q:
    """The active members of a scope who may be mobile (the roster's kind, or a destination), with their
    registration: `is_mobile` decides."""
    return (
        query.join(OrgUnit, OrgUnit.id == Member.unit_id)
        .outerjoin(MobileRegistration, MobileRegistration.member_id == Member.id)
        .where(
            Member.active.is_(True),
            or_(Member.kind == MOBILE_KIND, Member.mobile_destination.is_not(None)),
            in_scope(scope_path),
        )
    )


def mobile_ids(session: Session, scope_path: str | None = "") -> list[int]:
    """The ids of `mobile_members` without their rows and last reports (the dashboard's count of a street:
    the members' ORM rows and every report-in cost a second)."""
    if scope_path is None:
        return []
    rows = session.connection().execute(
        _candidates(
            select(
                Member.id, Member.active, Member.kind, Member.mobile_destination, MobileRegistration.ended_at
            ),
            scope_path,
        )
    )
    return [
        int(i) for i, active, kind, destination, ended in rows if _mobile_by(active, kind, destination, ended)
    ]


def mobile_member(session: Session, member_id: int) -> Member | None:
    """The member when they are mobile now, else None."""
    member = session.get(Member, member_id)
    if member is None or not is_mobile(member, registration_of(session, member_id)):
        return None
    return member


def ensure_registration(session: Session, member: Member, now: datetime) -> MobileRegistration:
    found = registration_of(session, member.id)
    if found is None:
        found = MobileRegistration(
            member_id=member.id,
            destination=member.mobile_destination,
            # Mobile by the roster: known as such since the entry was made.
            registered_at=member.created_at if is_mobile(member, None) else now,
            updated_at=now,
        )
        session.add(found)
        session.flush()
    return found


@dataclass(frozen=True, slots=True)
class LastReport:
    month: str
    place: str
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MobileMember:
    member_id: int
    number: str
    name: str
    unit_path: str
    destination: str
    contact_id: int | None
    last: LastReport | None
    since: datetime  # known as mobile since: the registration, else the roster entry


def mobile_members(session: Session, scope_path: str | None = "") -> list[MobileMember]:
    """Every mobile member (in a scope: "" every unit, None nowhere), by number, with their last report."""
    if scope_path is None:
        return []
    rows = session.execute(
        _candidates(select(Member, OrgUnit.path, MobileRegistration), scope_path).order_by(Member.number)
    ).all()
    found = [(m, str(path), reg) for m, path, reg in rows if is_mobile(m, reg)]
    last: dict[int, LastReport] = {}
    if found:
        for report in session.scalars(
            select(MobileReport)
            .where(MobileReport.member_id.in_([m.id for m, _, _ in found]))
            .order_by(MobileReport.month)
        ):
            last[report.member_id] = LastReport(report.month, report.place, report.text, report.updated_at)
    return [
        MobileMember(
            member_id=m.id,
            number=m.number,
            name=m.name,
            unit_path=path,
            destination=m.mobile_destination or (reg.destination if reg else None) or "",
            contact_id=reg.contact_id if reg else None,
            last=last.get(m.id),
            since=reg.registered_at if reg else m.created_at,
        )
        for m, path, reg in found
    ]


# --- 流动登记 / 流动结束 (a secretary, within their scope) ---------------------------------------------


class Outcome(StrEnum):
    DONE = "done"
    NOT_FOUND = "not_found"  # nobody of that name in the scope
    MANY = "many"  # several: the secretary adds the number
    CONTACT_NOT_FOUND = "contact_not_found"
    NOT_MOBILE = "not_mobile"  # 流动结束 for someone not registered
    STILL_ROSTER = "still_roster"  # ended, but the roster's 人员类型 is still 流动


@dataclass(frozen=True, slots=True)
class Registered:
    outcome: Outcome
    name: str = ""
    number: str = ""
    destination: str = ""
    contact: str = ""  # the contact person's name, "" for the branch secretary
    count: int = 0


def _find(session: Session, scope_path: str, name: str, number: str | None = None) -> list[Member]:
    query = (
        select(Member)
        .join(OrgUnit, OrgUnit.id == Member.unit_id)
        .where(Member.name == name, Member.active.is_(True), Member.kind != GUEST_KIND, in_scope(scope_path))
        .order_by(Member.number)
    )
    if number:
        query = query.where(Member.number == number)
    return list(session.scalars(query))


def register(
    session: Session,
    scope_path: str,
    name: str,
    destination: str,
    contact_name: str | None,
    actor: str,
    actor_member_id: int | None,
    now: datetime,
    number: str | None = None,
) -> Registered:
    """Register a member of the scope as mobile (or change their destination or contact person). The
    contact person: a named member of the scope, else none (the branch secretary)."""
    found = _find(session, scope_path, name, number)
    if not found:
        return Registered(Outcome.NOT_FOUND, name=name)
    if len(found) > 1:
        return Registered(Outcome.MANY, name=name, number=found[0].number, count=len(found))
    member = found[0]
    contact: Member | None = None
    if contact_name:
        contacts = _find(session, scope_path, contact_name)
        if len(contacts) != 1:
            return Registered(Outcome.CONTACT_NOT_FOUND, name=contact_name)
        contact = contacts[0]
    was_mobile = is_mobile(member, registration_of(session, member.id))
    reg = ensure_registration(session, member, now)
    if not was_mobile:
        reg.registered_at = now  # newly away: silent months count from now
    reg.destination = destination
    reg.ended_at = None
    reg.registered_by, reg.updated_at = actor, now
    if contact is not None:
        reg.contact_id = contact.id
    elif reg.contact_id is None and actor_member_id is not None and actor_member_id != member.id:
        reg.contact_id = actor_member_id  # the secretary who registers is the contact unless another is named
    member.mobile_destination = destination
    # Set in chat: a roster re-import keeps it (bot.domain.importing.members).
    member.chat_preferences = sorted({*(member.chat_preferences or []), "mobile_destination"})
    member.updated_at = now
    contact_label = ""
    if reg.contact_id is not None:
        contact_label = str(session.scalar(select(Member.name).where(Member.id == reg.contact_id)) or "")
    return Registered(
        Outcome.DONE, name=member.name, number=member.number, destination=destination, contact=contact_label
    )


def end_registration(
    session: Session, scope_path: str, name: str, actor: str, now: datetime, number: str | None = None
) -> Registered:
    found = [
        m for m in _find(session, scope_path, name, number) if is_mobile(m, registration_of(session, m.id))
    ]
    if not found:
        return Registered(Outcome.NOT_MOBILE, name=name)
    if len(found) > 1:
        return Registered(Outcome.MANY, name=name, number=found[0].number, count=len(found))
    member = found[0]
    reg = ensure_registration(session, member, now)
    reg.ended_at, reg.updated_at, reg.registered_by = now, now, actor
    member.mobile_destination = None
    member.chat_preferences = sorted({*(member.chat_preferences or []), "mobile_destination"})
    member.updated_at = now
    outcome = Outcome.STILL_ROSTER if member.kind == MOBILE_KIND else Outcome.DONE
    return Registered(outcome, name=member.name, number=member.number)


# --- consents -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Consents:
    location: bool | None
    precise: bool | None


def consents(session: Session, member_id: int) -> Consents:
    reg = registration_of(session, member_id)
    return Consents(reg.location_consent, reg.precise_consent) if reg else Consents(None, None)


def set_consent(
    session: Session,
    member_id: int,
    now: datetime,
    *,
    location: bool | None = None,
    precise: bool | None = None,
) -> None:
    """Record an answer to a consent question. Refusing location use refuses precise location too; taking
    consent back deletes the coordinates already kept."""
    member = session.get(Member, member_id)
    if member is None:
        return
    reg = ensure_registration(session, member, now)
    if location is not None:
        reg.location_consent = location
        if not location:
            reg.precise_consent = False
    if precise is not None:
        reg.precise_consent = precise
    reg.consent_at = reg.updated_at = now
    if not reg.location_consent or not reg.precise_consent:
        forget_precise(session, now, member_id=member_id)
    if not reg.location_consent:
        session.execute(update(MobileReport).where(MobileReport.member_id == member_id).values(place=""))


# --- the report-in ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reported:
    month: str
    text: str
    place: str
    precise: bool  # coordinates kept (until `precise_until`)
    precise_until: datetime | None
    points: bool  # the month's points were awarded now


def report_in(
    session: Session,
    member_id: int,
    now: datetime,
    zone: ZoneInfo,
    *,
    text: str | None = None,
    label: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    precise_days: int = 30,
) -> Reported:
    """The member's report of this month (local): the text, and from a location only what they consented
    to — the district (from WeChat's label) with the first consent, the coordinates with the second. A
    later message in the month adds to the month's report. Points once per member and month."""
    month = month_of(now, zone)
    given = consents(session, member_id)
    place = district_of(label) if given.location else ""
    keep_precise = bool(given.location and given.precise and latitude is not None and longitude is not None)
    report = session.scalar(
        select(MobileReport).where(MobileReport.member_id == member_id, MobileReport.month == month)
    )
    if report is None:
        report = MobileReport(
            member_id=member_id, month=month, text="", place="", reported_at=now, updated_at=now
        )
        session.add(report)
    if text:
        report.text = text[:200]
    if place:
        report.place = place
    if keep_precise:
        report.latitude, report.longitude = latitude, longitude
        report.precise_until = now + timedelta(days=precise_days)
    report.updated_at = now
    session.flush()
    points = award(session, member_id, REPORT_IN, f"report_in:{member_id}:{month}", now)
    return Reported(
        month=month,
        text=report.text,
        place=report.place,
        precise=report.latitude is not None,
        precise_until=report.precise_until,
        points=points,
    )


def forget_precise(session: Session, now: datetime, member_id: int | None = None) -> int:
    """Delete kept coordinates past their time (housekeeping), or all of one member's (consent taken back).
    Returns how many reports lost them."""
    statement = update(MobileReport).where(MobileReport.latitude.is_not(None))
    if member_id is None:
        statement = statement.where(MobileReport.precise_until <= now)
    else:
        statement = statement.where(MobileReport.member_id == member_id)
    result = session.execute(statement.values(latitude=None, longitude=None, precise_until=None))
    return int(getattr(result, "rowcount", 0) or 0)


# --- the month: who is due a reminder, who went silent ------------------------------------------------


def reported_months(
    session: Session, member_ids: Sequence[int], months: Sequence[str]
) -> set[tuple[int, str]]:
    if not member_ids:
        return set()
    db = session.connection()
    found: set[tuple[int, str]] = set()
    for start in range(0, len(member_ids), 5000):
        part = member_ids[start : start + 5000]
        found.update(
            (int(m), str(month))
            for m, month in db.execute(
                select(MobileReport.member_id, MobileReport.month).where(
                    ids_in(db, MobileReport.member_id, part), MobileReport.month.in_(list(months))
                )
            )
        )
    return found


def not_reported(session: Session, month: str, scope_path: str | None = "") -> list[MobileMember]:
    found = mobile_members(session, scope_path)
    done = reported_months(session, [m.member_id for m in found], [month])
    return [m for m in found if (m.member_id, month) not in done]


@dataclass(frozen=True, slots=True)
class ReportIn:
    """A month's report-in of a scope's mobile members: how many there are, how many reported."""

    month: str
    total: int
    reported: int

    @property
    def rate(self) -> float | None:
        return self.reported / self.total if self.total else None


def reporting(session: Session, month: str, scope_path: str | None = "") -> ReportIn:
    """The month's report-in: the mobile members and how many of them are not in `not_reported`."""
    return reporting_by_month(session, [month], scope_path)[month]


def reporting_by_month(
    session: Session, months: Sequence[str], scope_path: str | None = ""
) -> dict[str, ReportIn]:
    """`reporting` for each of `months` (the dashboard's trend): today's mobile members, and which of them
    reported in each month, read once."""
    found = mobile_ids(session, scope_path)
    done = reported_months(session, found, months)
    return {
        month: ReportIn(month, len(found), sum(1 for m in found if (m, month) in done)) for month in months
    }


def silent(session: Session, month: str, zone: ZoneInfo | None = None) -> list[MobileMember]:
    """Mobile members with no report this month and the two before, known as mobile before them (a member
    registered, or put on the roster, within the three months is not silent for three yet)."""
    zone = zone or ZoneInfo("Asia/Shanghai")
    months = [previous_month(month, back) for back in range(SILENT_MONTHS)]
    found = mobile_members(session)
    done = reported_months(session, [m.member_id for m in found], months)
    first = months[-1]
    return [
        m
        for m in found
        if not any((m.member_id, month_) in done for month_ in months)
        and month_of(_aware(m.since), zone) < first
    ]


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def contact_and_secretaries(session: Session, member: MobileMember) -> list[int]:
    """Who hears that a member lost contact: the secretaries of their unit (the nearest above with one)
    and their contact person."""
    ids = list(secretaries_for(session, member.member_id))
    if (
        member.contact_id is not None
        and member.contact_id not in ids
        and member.contact_id != member.member_id
    ):
        ids.append(member.contact_id)
    return ids


# --- 流入登记 ------------------------------------------------------------------------------------------


def branches(session: Session, scope_path: str = "") -> list[tuple[int, str, str]]:
    """The 网格党支部 a guest may join (id, path, name), in the tree's order; a tree without branches offers
    its community units."""
    rows = list(
        session.execute(
            select(OrgUnit.id, OrgUnit.path, OrgUnit.name)
            .where(OrgUnit.active.is_(True), OrgUnit.kind == "网格党支部", in_scope(scope_path))
            .order_by(OrgUnit.path)
        )
    )
    if not rows:
        rows = list(
            session.execute(
                select(OrgUnit.id, OrgUnit.path, OrgUnit.name)
                .where(OrgUnit.active.is_(True), OrgUnit.kind.in_(("社区党委", "党总支")))
                .order_by(OrgUnit.path)
            )
        )
    # In the tree's order, and within a unit by the numbers their names read (第二 before 第三).
    found = [(int(i), str(p), str(n)) for i, p, n in rows]
    return sorted(found, key=lambda row: (row[1].rpartition("/")[0], natural_key(row[2])))


def pending_of(session: Session, openid: str) -> IncomingMember | None:
    return session.scalar(
        select(IncomingMember)
        .where(IncomingMember.openid == openid, IncomingMember.status.in_(("pending", "confirmed")))
        .order_by(IncomingMember.id.desc())
        .limit(1)
    )


def submit_incoming(
    session: Session,
    openid: str,
    *,
    name: str,
    phone_enc: str | None,
    home_org: str,
    place: str,
    unit_id: int,
    now: datetime,
) -> IncomingMember:
    entry = IncomingMember(
        openid=openid,
        name=name,
        phone_enc=phone_enc,
        home_org=home_org,
        place=place,
        unit_id=unit_id,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def incoming(
    session: Session, scope_path: str | None, statuses: Sequence[str] = ("pending", "confirmed")
) -> list[tuple[IncomingMember, str]]:
    """流入 entries of units in the scope (with the unit's name), oldest first."""
    if scope_path is None:
        return []
    rows = session.execute(
        select(IncomingMember, OrgUnit.path, OrgUnit.name)
        .join(OrgUnit, OrgUnit.id == IncomingMember.unit_id)
        .where(IncomingMember.status.in_(list(statuses)))
        .order_by(IncomingMember.id)
    ).all()
    return [(entry, str(name)) for entry, path, name in rows if within(str(path), scope_path)]


@dataclass(frozen=True, slots=True)
class Decided:
    outcome: Outcome
    entry_id: int | None = None
    openid: str | None = None
    member_id: int | None = None


def confirm_incoming(session: Session, scope_path: str, name: str, actor: str, now: datetime) -> Decided:
    """`流入确认 姓名`: the guest becomes a member of kind 流入 in the chosen branch, bound to them."""
    pending = [e for e, _ in incoming(session, scope_path, ("pending",)) if e.name == name]
    if not pending:
        return Decided(Outcome.NOT_FOUND)
    entry = pending[0]
    if session.get(Binding, entry.openid) is not None:
        # Bound meanwhile (as a roster member, a grid worker): nothing to make.
        entry.status, entry.decided_by, entry.decided_at, entry.updated_at = "returned", actor, now, now
        entry.reason = "already_bound"
        return Decided(Outcome.NOT_FOUND)
    assert entry.unit_id is not None
    guest = Member(
        number=f"流入-{entry.id:04d}",
        name=entry.name,
        phone_enc=entry.phone_enc,
        status="正式",
        kind=GUEST_KIND,
        unit_id=entry.unit_id,
        building=entry.place[:50],
        volunteer_posts=[],
        chat_preferences=[],
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(guest)
    session.flush()
    session.add(Binding(openid=entry.openid, member_id=guest.id, method="incoming", bound_at=now))
    entry.status, entry.member_id = "confirmed", guest.id
    entry.decided_by, entry.decided_at, entry.updated_at = actor, now, now
    return Decided(Outcome.DONE, entry.id, entry.openid, guest.id)


def return_incoming(
    session: Session, scope_path: str, name: str, reason: str, actor: str, now: datetime
) -> Decided:
    """`流入退回 姓名 原因`: the registration goes back to the person with the reason."""
    pending = [e for e, _ in incoming(session, scope_path, ("pending",)) if e.name == name]
    if not pending:
        return Decided(Outcome.NOT_FOUND)
    entry = pending[0]
    entry.status, entry.reason = "returned", reason[:200]
    entry.decided_by, entry.decided_at, entry.updated_at = actor, now, now
    return Decided(Outcome.DONE, entry.id, entry.openid)


def decide_incoming(
    session: Session,
    scope_path: str,
    name: str,
    actor: str,
    now: datetime,
    *,
    notice: str,
    reason: str | None = None,
) -> Decided:
    """`流入确认 姓名` (no `reason`) or `流入退回 姓名 原因`, as chat and the console take them: the
    decision, its audit entry, and the person told (`notice`: the welcome, or the return with its reason).
    NOT_FOUND: no such registration waits in the scope."""
    if reason is None:
        done = confirm_incoming(session, scope_path, name, actor, now)
        if done.outcome is not Outcome.DONE or done.openid is None or done.member_id is None:
            return Decided(Outcome.NOT_FOUND)
        audit.record(session, now, actor, "confirm_incoming", scope_path, incoming=done.entry_id)
        key = f"mobile_incoming_confirmed:{done.entry_id}"
        add_system_notice(session, now, key=key, text=notice, member_ids=[done.member_id])
        return done
    done = return_incoming(session, scope_path, name, reason, actor, now)
    if done.outcome is not Outcome.DONE or done.openid is None:
        return Decided(Outcome.NOT_FOUND)
    audit.record(session, now, actor, "return_incoming", scope_path, incoming=done.entry_id)
    key = f"mobile_incoming_returned:{done.entry_id}"
    add_system_notice(session, now, key=key, text=notice, openids=[done.openid])
    return done


def is_guest(member: Member) -> bool:
    """A confirmed 流入 member (for dues and lists: paid here, attends here, belongs elsewhere)."""
    return member.kind == GUEST_KIND
