"""The dashboard's numbers for a unit and a month, and each section's 12-month trend, all taken from the
domain functions the chat and the CLI use (nothing is computed twice): bot.domain.dues.totals_by_month,
bot.domain.request_rates.rates_by_month, bot.domain.theme_day.overview_by_month,
bot.domain.mobile.reporting_by_month and bot.outbound.notice_reach.reach_by_month — the single-month
functions are these with one month. The month shown is the last of its trend. A section appears only when
the viewer's scope for its action (bot.domain.policy) holds the unit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain import dues, mobile, request_rates, theme_day
from bot.domain.places import path_key
from bot.domain.policy import Action, Identity, scope, within
from bot.outbound import notice_reach
from models import (
    Attendance,
    DuesAdjustment,
    DuesBase,
    DuesEntry,
    DuesUnitRate,
    Event,
    EventRecord,
    Invitation,
    Member,
    MobileRegistration,
    MobileReport,
    OrgUnit,
    RequestEvent,
    RequestRating,
    RequestTicket,
)

TREND_MONTHS = 12


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


@dataclass(frozen=True, slots=True)
class Options:
    """The settings the numbers depend on."""

    dues_start: str | None
    timezone: str
    rounding: str


@dataclass(frozen=True, slots=True)
class DuesPart:
    rate: float
    due: int
    paid: int
    due_yuan: str
    paid_yuan: str
    behind: int


@dataclass(frozen=True, slots=True)
class MobilePart:
    total: int
    reported: int

    @property
    def rate(self) -> float | None:
        return self.reported / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class ThemePart:
    units: list[theme_day.BranchMonth]

    @property
    def held(self) -> int:
        return sum(1 for u in self.units if u.held)

    @property
    def mean_rate(self) -> float | None:
        return sum(u.rate for u in self.units) / len(self.units) if self.units else None

    @property
    def held_rate(self) -> float | None:
        return self.held / len(self.units) if self.units else None


@dataclass(frozen=True, slots=True)
class Series:
    key: str  # the text key of its name
    values: list[float | None]  # a rate (0..1) per month, None where there is nothing to count


@dataclass(frozen=True, slots=True)
class Trend:
    section: str  # dues, requests, theme, mobile, notices
    title_key: str
    months: list[str]  # oldest first; the last is the month shown
    series: list[Series]


@dataclass(slots=True)
class Month:
    unit_path: str
    unit_name: str
    month: str
    dues: DuesPart | None = None
    requests: list[request_rates.Rates] | None = None  # the unit first, then the units below it
    theme: ThemePart | None = None
    mobile: MobilePart | None = None
    notices: notice_reach.Reach | None = None
    below: list[tuple[str, str]] = field(default_factory=list)  # (path, name) of the units below
    trends: dict[str, Trend] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return (
            self.dues is None
            and self.requests is None
            and self.theme is None
            and self.mobile is None
            and self.notices is None
        )


# Each section: the action whose scope must hold the unit.
SECTION_ACTIONS = {
    "dues": Action.RECORD_DUES,
    "requests": Action.REQUEST_STATS,
    "theme": Action.KEEP_RECORDS,
    "mobile": Action.MANAGE_MOBILE,
    "notices": Action.BROADCAST,
}
SECTIONS = tuple(SECTION_ACTIONS.values())


def home_of(identity: Identity) -> str | None:
    """The unit a user's dashboard opens on: the widest of their scopes over what it shows."""
    found = [scope(identity, a) for a in SECTIONS]
    paths = [p for p in found if p is not None]
    return min(paths, key=len) if paths else None


def allowed(identity: Identity, unit_path: str) -> bool:
    return any(within(unit_path, scope(identity, a)) for a in SECTIONS)


def may_see(identity: Identity, section: str, unit_path: str) -> bool:
    action = SECTION_ACTIONS.get(section)
    return action is not None and within(unit_path, scope(identity, action))


def trend_months(month: str) -> list[str]:
    """The twelve months up to and including `month`, oldest first."""
    return [dues.add_months(month, n) for n in range(-(TREND_MONTHS - 1), 1)]


# --- one section: its month and its trend, from one range call -----------------------------------------


def _dues(session: Session, unit: str, months: list[str], o: Options) -> tuple[DuesPart, Trend]:
    start = dues.start_month(session, o.dues_start, o.timezone)
    found = dues.totals_by_month(session, unit, months, start=start, rounding=o.rounding)
    last = found[months[-1]]
    part = DuesPart(last.rate, last.due, last.paid, yuan(last.due_fen), yuan(last.paid_fen), last.behind)
    values = [found[m].rate if found[m].due else None for m in months]
    return part, Trend("dues", "console_dues_heading", months, [Series("console_dues_rate", values)])


def _requests(
    session: Session, unit: str, months: list[str], o: Options
) -> tuple[list[request_rates.Rates], Trend]:
    found = request_rates.rates_by_month(session, months, unit)
    totals = [found[m][0] for m in months]
    series = [
        Series("console_rate_response", [r.response_rate for r in totals]),
        Series("console_rate_solve", [r.solve_rate for r in totals]),
        Series("console_rate_satisfaction", [r.satisfaction_rate for r in totals]),
    ]
    return found[months[-1]], Trend("requests", "console_requests_heading", months, series)


def _theme(session: Session, unit: str, months: list[str], o: Options) -> tuple[ThemePart, Trend]:
    found = theme_day.overview_by_month(session, unit, months)
    parts = [ThemePart(found[m]) for m in months]
    series = [
        Series("console_dashboard_theme_mean", [p.mean_rate for p in parts]),
        Series("console_dashboard_theme_held", [p.held_rate for p in parts]),
    ]
    return parts[-1], Trend("theme", "console_theme_heading", months, series)


def _mobile(session: Session, unit: str, months: list[str], o: Options) -> tuple[MobilePart, Trend]:
    found = mobile.reporting_by_month(session, months, unit)
    last = found[months[-1]]
    series = [Series("console_mobile_rate", [found[m].rate for m in months])]
    return MobilePart(last.total, last.reported), Trend("mobile", "console_mobile_heading", months, series)


def _notices(session: Session, unit: str, months: list[str], o: Options) -> tuple[notice_reach.Reach, Trend]:
    found = notice_reach.reach_by_month(session, unit, months, o.timezone)
    series = [
        Series("console_dashboard_notices_reached_rate", [found[m].reached_rate for m in months]),
        Series("console_dashboard_notices_elderly_rate", [found[m].elderly_rate for m in months]),
    ]
    return found[months[-1]], Trend("notices", "console_dashboard_notices_heading", months, series)


_PARTS: dict[str, Callable[[Session, str, list[str], Options], tuple[object, Trend]]] = {
    "dues": _dues,
    "requests": _requests,
    "theme": _theme,
    "mobile": _mobile,
    "notices": _notices,
}


# --- a per-process cache, checked against what the figures are made of -------------------------------
#
# A street's twelve months of dues (100 000 members) take seconds of Python; a section's figures are kept
# per process with a fingerprint of every table they are computed from: the largest id of each table that
# only grows (the dues ledger, bases, adjustments, invitations, attendance, records, report-ins, ticket
# events) and the latest updated_at and largest id of each that changes in place (members, units,
# tickets, ratings, events, registrations; each change stamps updated_at). The fingerprint is read (one
# indexed query) on every request, in the database the figures come from, so a change made by any
# process — or a past month's late payment or rating — is seen at once. The notices' figures are cheap
# (the month's few notices) and the outbox changes all the time: they are not kept.


def _latest(model: Any) -> list[Any]:
    return [
        select(func.max(model.id)).scalar_subquery(),
        select(func.max(model.updated_at)).scalar_subquery(),
    ]


def _grows(model: Any) -> list[Any]:
    return [select(func.max(model.id)).scalar_subquery()]


_UNITS = [*_latest(OrgUnit), *_latest(Member)]
FINGERPRINTS: dict[str, list[Any]] = {
    "dues": [*_UNITS, *_grows(DuesEntry), *_grows(DuesBase), *_grows(DuesAdjustment), *_grows(DuesUnitRate)],
    # Not every change of a ticket stamps its updated_at (a transfer, the job's unrated close), but every one
    # writes a RequestEvent; a rating is its own row, changeable for 12 hours.
    "requests": [*_UNITS, *_latest(RequestTicket), *_grows(RequestEvent), *_latest(RequestRating)],
    "theme": [*_UNITS, *_latest(Event), *_grows(Invitation), *_grows(Attendance), *_grows(EventRecord)],
    "mobile": [*_UNITS, *_latest(MobileRegistration), *_grows(MobileReport)],
}


class SectionCache:
    """Each section's figures for a unit and month, kept with the fingerprint they were made at (one per
    console app: it lives on the app, not in the module)."""

    SIZE = 256

    def __init__(self) -> None:
        self._kept: dict[tuple[object, ...], tuple[tuple[object, ...], tuple[object, Trend]]] = {}

    def part(
        self, session: Session, section: str, unit_path: str, months: list[str], o: Options
    ) -> tuple[object, Trend]:
        """A section's month and trend: from the cache when nothing it is made of has changed."""
        key = (section, unit_path, months[-1], o)
        mark = fingerprint(session, section)
        if mark is not None:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == mark:
                return kept[1]
        made = _PARTS[section](session, unit_path, months, o)
        if mark is not None:
            if len(self._kept) >= self.SIZE:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = (mark, made)
        return made


def fingerprint(session: Session, section: str) -> tuple[object, ...] | None:
    columns = FINGERPRINTS.get(section)
    if columns is None:
        return None
    row = session.execute(select(*columns)).one()
    return tuple(row)


def section_trend(
    session: Session,
    cache: SectionCache,
    identity: Identity,
    section: str,
    unit_path: str,
    month: str,
    o: Options,
) -> Trend | None:
    """One section's trend (a chart), or None when the viewer may not see it over the unit."""
    if section not in _PARTS or not may_see(identity, section, unit_path):
        return None
    return cache.part(session, section, unit_path, trend_months(month), o)[1]


def month_view(
    session: Session, cache: SectionCache, identity: Identity, unit_path: str, month: str, o: Options
) -> Month:
    name = session.scalar(select(OrgUnit.name).where(OrgUnit.path == unit_path)) if unit_path else ""
    view = Month(unit_path, name or "", month)
    months = trend_months(month)
    for section in _PARTS:
        if not may_see(identity, section, unit_path):
            continue
        part, trend = cache.part(session, section, unit_path, months, o)
        setattr(view, section, part)
        view.trends[section] = trend
    parent = session.scalar(select(OrgUnit.id).where(OrgUnit.path == unit_path)) if unit_path else None
    view.below = [
        (str(p), str(n))
        for p, n in session.execute(
            select(OrgUnit.path, OrgUnit.name).where(
                OrgUnit.active.is_(True),
                OrgUnit.parent_id.is_(None) if parent is None else OrgUnit.parent_id == parent,
            )
        )
    ]
    view.below.sort(key=lambda unit: path_key(unit[0]))  # 第二 before 第三
    return view
