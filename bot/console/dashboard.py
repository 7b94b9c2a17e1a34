"""The dashboard's numbers for a unit and a month, and each section's 12-month trend, all taken from the
domain functions the chat and the CLI use (nothing is computed twice): bot.domain.dues.totals_by_month,
bot.domain.request_rates.rates_by_month, bot.domain.theme_day.overview_by_month,
bot.domain.mobile.reporting_by_month and bot.outbound.notice_reach.reach_by_month — the single-month
functions are these with one month. The month shown is the last of its trend. A section appears only when
the viewer's scope for its action (bot.domain.policy) holds the unit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console.changes import Feed, Tracker
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
from models.db import ids_in

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


# --- one section: its month and its trend, from the domain's figures ------------------------------------


def _dues(totals: dict[str, dues.Totals], months: list[str]) -> tuple[DuesPart, Trend]:
    last = totals[months[-1]]
    part = DuesPart(last.rate, last.due, last.paid, yuan(last.due_fen), yuan(last.paid_fen), last.behind)
    values = [totals[m].rate if totals[m].due else None for m in months]
    return part, Trend("dues", "console_dues_heading", months, [Series("console_dues_rate", values)])


def _requests(found: dict[str, list[request_rates.Rates]], months: list[str]) -> tuple[object, Trend]:
    totals = [found[m][0] for m in months]
    series = [
        Series("console_rate_response", [r.response_rate for r in totals]),
        Series("console_rate_solve", [r.solve_rate for r in totals]),
        Series("console_rate_satisfaction", [r.satisfaction_rate for r in totals]),
    ]
    return found[months[-1]], Trend("requests", "console_requests_heading", months, series)


def _theme(found: dict[str, list[theme_day.BranchMonth]], months: list[str]) -> tuple[object, Trend]:
    parts = [ThemePart(found[m]) for m in months]
    series = [
        Series("console_dashboard_theme_mean", [p.mean_rate for p in parts]),
        Series("console_dashboard_theme_held", [p.held_rate for p in parts]),
    ]
    return parts[-1], Trend("theme", "console_theme_heading", months, series)


def _mobile(session: Session, unit: str, months: list[str], o: Options) -> tuple[object, Trend]:
    found = mobile.reporting_by_month(session, months, unit)
    last = found[months[-1]]
    series = [Series("console_mobile_rate", [found[m].rate for m in months])]
    return MobilePart(last.total, last.reported), Trend("mobile", "console_mobile_heading", months, series)


def _notices(
    session: Session, unit: str, months: list[str], o: Options, counts: notice_reach.Counts | None = None
) -> tuple[object, Trend]:
    found = notice_reach.reach_by_month(session, unit, months, o.timezone, counts)
    series = [
        Series("console_dashboard_notices_reached_rate", [found[m].reached_rate for m in months]),
        Series("console_dashboard_notices_elderly_rate", [found[m].elderly_rate for m in months]),
    ]
    return found[months[-1]], Trend("notices", "console_dashboard_notices_heading", months, series)


PARTS = ("dues", "requests", "theme", "mobile", "notices")


# --- figures kept per process, recounted where they changed -----------------------------------------------
#
# A street's twelve months of dues (100 000 members) take seconds; the figures are kept per console app
# (one a process) and, on every request, a Tracker (bot/console/changes.py) says what changed since, in
# the database they come from, so a change made by any process (a payment, a sign-in, a past month's late
# rating) shows at once and costs only its own recount:
#
#   dues      each unit's counts (dues.unit_counts); a changed member, ledger row, base or adjustment
#             recounts that member's unit (and the unit they left); a scope sums its units;
#   requests  each month's counts per unit (request_rates.months_counts); a changed ticket, ticket event
#             or rating recounts its month of filing; a scope's roll-up is kept until a recount;
#   theme     each month's theme days of every unit (theme_day.overview_by_month); a changed event,
#             invitation, sign-in or record recounts the event's month;
#   mobile    the scope's report-in, kept whole until a registration or a report-in changes (~0.2 s for
#             a street);
#   notices   each notice's counts kept for an hour once it has settled (written 3 days ago), for 30 s
#             before (the outbox has no index to follow its changes by).
#
# Units changed (renamed, moved, added) recount every section; a unit's rate recounts the dues.

_UNIT_MARKS = [
    select(func.max(OrgUnit.id)).scalar_subquery(),
    select(func.max(OrgUnit.updated_at)).scalar_subquery(),
]


def _dues_tracker() -> Tracker:
    return Tracker(
        [
            Feed(Member.id, Member.id, Member.updated_at),
            Feed(DuesEntry.id, DuesEntry.member_id),
            Feed(DuesBase.id, DuesBase.member_id),
            Feed(DuesAdjustment.id, DuesAdjustment.member_id),
        ],
        resets=[*_UNIT_MARKS, select(func.max(DuesUnitRate.id)).scalar_subquery()],
    )


def _requests_tracker() -> Tracker:
    by_ticket = (RequestTicket, RequestTicket.id == RequestEvent.ticket_id)
    return Tracker(
        [
            Feed(RequestTicket.id, RequestTicket.filed_month, RequestTicket.updated_at),
            Feed(RequestEvent.id, RequestTicket.filed_month, join=by_ticket),
            Feed(
                RequestRating.id,
                RequestTicket.filed_month,
                RequestRating.updated_at,
                join=(RequestTicket, RequestTicket.id == RequestRating.ticket_id),
            ),
        ],
        resets=_UNIT_MARKS,  # the roll-up to a scope, made per scope and kept, follows the tree
    )


def _theme_tracker() -> Tracker:
    return Tracker(
        [
            Feed(Event.id, Event.month, Event.updated_at),
            Feed(Invitation.id, Event.month, join=(Event, Event.id == Invitation.event_id)),
            Feed(Attendance.id, Event.month, join=(Event, Event.id == Attendance.event_id)),
            Feed(
                EventRecord.id,
                Event.month,
                EventRecord.updated_at,
                join=(Event, Event.id == EventRecord.event_id),
            ),
        ],
        resets=_UNIT_MARKS,
    )


def _mobile_tracker() -> Tracker:
    return Tracker(
        [
            Feed(MobileRegistration.id, MobileRegistration.id, MobileRegistration.updated_at),
            Feed(MobileReport.id, MobileReport.id),
            Feed(Member.id, Member.id, Member.updated_at),
        ],
        resets=_UNIT_MARKS,
    )


@dataclass(slots=True)
class _DuesTrend:
    """The dues counts of the units viewed so far (each unit's members, dues.unit_counts) over one trend's
    months, and what they sum to per scope. A scope's first view counts only its units not yet counted: a
    community secretary's first view costs their community, an administrator's the whole street once."""

    tracker: Tracker = field(default_factory=_dues_tracker)
    start: str | None = None
    counts: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    covered: set[int] = field(default_factory=set)  # the units counted (with or without members)
    members: dict[int, int] = field(default_factory=dict)  # member → unit counted in
    paths: dict[int, str] = field(default_factory=dict)
    sums: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # scope → month → its units' sum
    counting: bool = False

    def totals(
        self, session: Session, scope_path: str, months: list[str], o: Options
    ) -> dict[str, dues.Totals]:
        if self.counting:
            # Another request is counting (PostgreSQL: its queries yield to this one): its figures are not
            # whole yet, so this one counts its scope itself.
            start = dues.start_month(session, o.dues_start, o.timezone)
            return dues.totals_by_month(session, scope_path, months, start=start, rounding=o.rounding)
        self.counting = True
        try:
            changed = self.tracker.look(session)
            if changed is None or changed:
                start = dues.start_month(session, o.dues_start, o.timezone)
                if changed is None or start != self.start:
                    self.start = start
                    self.counts, self.members, self.covered = {}, {}, set()
                    self.paths = {
                        int(i): str(p) for i, p in session.execute(select(OrgUnit.id, OrgUnit.path))
                    }
                    self.sums.clear()
                else:
                    self._recount(session, changed, months, o)
            sums = self.sums.get(scope_path)
            if sums is None:  # a scope's first view: its units counted and summed, then kept up to date
                mine = [u for u, path in self.paths.items() if within(path, scope_path)]
                self._count(session, [u for u in mine if u not in self.covered], months, o)
                sums = {m: [0] * len(dues.Totals.COUNTS) for m in months}
                for unit in mine:
                    for month, counts in self.counts.get(unit, {}).items():
                        _add(sums[month], counts)
                if len(self.sums) >= 64:
                    self.sums.pop(next(iter(self.sums)))
                self.sums[scope_path] = sums
        except BaseException:
            self.tracker = _dues_tracker()  # what the tracker saw may not be counted: count afresh next time
            raise
        finally:
            self.counting = False
        return {m: dues.Totals(m, *sums[m]) for m in months}

    def _count(self, session: Session, units: list[int], months: list[str], o: Options) -> None:
        """Count units not counted before (no kept sum holds them)."""
        if not units:
            return
        assert self.start is not None
        everything = len(units) == len(self.paths)
        counts, members = dues.unit_counts(
            session, months, None if everything else units, start=self.start, rounding=o.rounding
        )
        self.counts.update(counts)
        self.members.update(members)
        self.covered.update(units)

    def _recount(self, session: Session, changed: set[int], months: list[str], o: Options) -> None:
        """Count again the counted units of changed members (the unit each was counted in, and their unit
        now), and move every kept sum holding one by its change."""
        ids = sorted(changed)
        units = {self.members[m] for m in ids if m in self.members}
        db = session.connection()
        for start in range(0, len(ids), 5000):
            part = ids[start : start + 5000]
            units.update(
                int(u) for (u,) in db.execute(select(Member.unit_id).where(ids_in(db, Member.id, part)))
            )
        units &= self.covered  # a unit not counted yet is counted when a scope holding it is first viewed
        if not units:
            return
        assert self.start is not None
        counts, members = dues.unit_counts(
            session, months, sorted(units), start=self.start, rounding=o.rounding
        )
        for unit in units:
            before = self.counts.pop(unit, {})
            after = counts.get(unit, {})
            path = self.paths.get(unit, "")
            for scope_path, sums in self.sums.items():  # each kept scope's sum: the unit's change added
                if within(path, scope_path):
                    for month, total in sums.items():
                        _add(total, before.get(month, ()), -1)
                        _add(total, after.get(month, ()))
        self.counts.update(counts)
        for member in [m for m, u in self.members.items() if u in units]:
            del self.members[member]
        self.members.update(members)


def _add(total: list[int], counts: Sequence[int], sign: int = 1) -> None:
    for i, value in enumerate(counts):
        total[i] += sign * value


@dataclass(slots=True)
class _Monthly:
    """A section's figures of every unit, per month, recounted for the months whose rows changed."""

    tracker: Tracker
    months: dict[str, Any] = field(default_factory=dict)
    version: int = 0  # moves on every recount
    views: dict[tuple[object, ...], tuple[int, Any]] = field(default_factory=dict)  # (scope, months) → view

    def get(
        self, session: Session, months: list[str], count: Callable[[Session, list[str]], dict[str, Any]]
    ) -> dict[str, Any]:
        changed = self.tracker.look(session)
        if changed is None:
            self.months.clear()
        else:
            for month in changed:
                self.months.pop(month, None)
        missing = [m for m in months if m not in self.months]
        if missing:
            self.months.update(count(session, missing))
            self.version += 1
        return {m: self.months[m] for m in months}

    def view(self, key: tuple[object, ...], make: Callable[[], Any]) -> Any:
        """What `make` makes of the kept months for a scope, made again only after a recount (call `get`
        first)."""
        kept = self.views.get(key)
        if kept is not None and kept[0] == self.version:
            return kept[1]
        if len(self.views) >= 256:
            self.views.clear()
        made = make()
        self.views[key] = (self.version, made)
        return made


class SectionCache:
    """Each section's figures, kept with what tells their changes (one per console app: it lives on the
    app, not in the module)."""

    TRENDS = 4  # dues trends kept (a trend is every unit's twelve months)
    SIZE = 256  # mobile figures kept (per unit and month)

    def __init__(self) -> None:
        self.warming: asyncio.Task[None] | None = None  # the background warm-up (bot/console/deps.py)
        self._dues: dict[tuple[object, ...], _DuesTrend] = {}
        self._requests = _Monthly(_requests_tracker())
        self._theme = _Monthly(_theme_tracker())
        self._mobile_tracker = _mobile_tracker()
        self._mobile: dict[tuple[object, ...], tuple[object, Trend]] = {}
        self._notices: dict[int, tuple[datetime, notice_reach.NoticeCounts]] = {}  # settled: counted at

    def part(
        self,
        session: Session,
        section: str,
        unit_path: str,
        months: list[str],
        o: Options,
        now: datetime | None = None,
    ) -> tuple[object, Trend]:
        """A section's month and trend, counted where its rows changed since the last request (`now`: the
        notices' settled counts are kept; without it every notice is counted)."""
        if section == "dues":
            key = (tuple(months), o)
            trend = self._dues.pop(key, None) or _DuesTrend()
            self._dues[key] = trend  # the latest used last
            while len(self._dues) > self.TRENDS:
                self._dues.pop(next(iter(self._dues)))
            return _dues(trend.totals(session, unit_path, months, o), months)
        if section == "requests":
            counts = self._requests.get(session, months, request_rates.months_counts)
            return self._requests.view(  # type: ignore[no-any-return]
                (unit_path, tuple(months)),
                lambda: _requests(
                    request_rates.rates_by_month(session, months, unit_path, counts=counts), months
                ),
            )
        if section == "theme":
            everything = self._theme.get(
                session, months, lambda s, missing: theme_day.overview_by_month(s, "", missing)
            )
            return self._theme.view(  # type: ignore[no-any-return]
                (unit_path, tuple(months)),
                lambda: _theme(
                    {
                        m: [b for b in everything[m] if theme_day.in_overview(b.path, unit_path)]
                        for m in months
                    },
                    months,
                ),
            )
        if section == "mobile":
            if self._mobile_tracker.look(session) != set():
                self._mobile.clear()
            mobile_key = (unit_path, months[-1], o)
            kept = self._mobile.get(mobile_key)
            if kept is None:
                kept = _mobile(session, unit_path, months, o)
                if len(self._mobile) >= self.SIZE:
                    self._mobile.pop(next(iter(self._mobile)))
                self._mobile[mobile_key] = kept
            return kept
        if section == "notices":
            if now is None:
                return _notices(session, unit_path, months, o)
            at = now
            return _notices(
                session, unit_path, months, o, lambda found: self._notice_counts(session, found, at)
            )
        raise KeyError(section)

    def _notice_counts(
        self, session: Session, notices: dict[int, datetime], now: datetime
    ) -> dict[int, notice_reach.NoticeCounts]:
        """Each notice's counts, from what was counted within KEEP for a settled one (written SETTLED
        ago), within KEEP_YOUNG for a younger one, else counted now. The outbox changes all the time and
        has no index to follow it by, and a street's year of street-wide announcements is millions of
        rows; a notice's rows hardly change once its delivery, its 24 hours and its relays are over, and
        the announcement's own page (公告发送情况) shows its delivery as it goes."""
        kept: dict[int, notice_reach.NoticeCounts] = {}
        for i, written in notices.items():
            found = self._notices.get(i)
            if found is not None and found[0] > now - (KEEP if written <= now - SETTLED else KEEP_YOUNG):
                kept[i] = found[1]
        counted = notice_reach.notice_counts(session, {i: w for i, w in notices.items() if i not in kept})
        if len(self._notices) > 20_000:
            self._notices.clear()
        for i, c in counted.items():
            self._notices[i] = (now, c)
        return {**kept, **counted}


SETTLED = timedelta(days=3)  # a notice's delivery, its 24 hours and its helpers' relays are over by then
KEEP = timedelta(hours=1)  # a settled notice's counts are counted again after this (a late relay)
KEEP_YOUNG = timedelta(seconds=30)  # a younger one's (its delivery goes on)
WARM = ("dues", "requests", "theme", "notices")  # kept for every unit at once: one count serves every scope


def warm(session: Session, cache: SectionCache, month: str, o: Options, now: datetime) -> None:
    """Count what every scope's dashboard of `month` shares (every unit's dues, every month's requests and
    theme days, every notice's recipients), so that the first view does not wait for it."""
    months = trend_months(month)
    for section in WARM:
        cache.part(session, section, "", months, o, now)


def section_trend(
    session: Session,
    cache: SectionCache,
    identity: Identity,
    section: str,
    unit_path: str,
    month: str,
    o: Options,
    now: datetime | None = None,
) -> Trend | None:
    """One section's trend (a chart), or None when the viewer may not see it over the unit."""
    if section not in PARTS or not may_see(identity, section, unit_path):
        return None
    return cache.part(session, section, unit_path, trend_months(month), o, now)[1]


def month_view(
    session: Session,
    cache: SectionCache,
    identity: Identity,
    unit_path: str,
    month: str,
    o: Options,
    now: datetime | None = None,
) -> Month:
    name = session.scalar(select(OrgUnit.name).where(OrgUnit.path == unit_path)) if unit_path else ""
    view = Month(unit_path, name or "", month)
    months = trend_months(month)
    for section in PARTS:
        if not may_see(identity, section, unit_path):
            continue
        part, trend = cache.part(session, section, unit_path, months, o, now)
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
