"""The dashboard's numbers for a unit and a month, each taken from the domain function the chat and the CLI
use (nothing is computed twice): bot.domain.dues.collection, bot.domain.request_rates.rates,
bot.domain.theme_day.month_overview, bot.domain.mobile.mobile_members / not_reported. A section appears
only when the viewer's scope for its action (bot.domain.policy) holds the unit."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import dues, mobile, request_rates, theme_day
from bot.domain.places import path_key
from bot.domain.policy import Action, Identity, scope, within
from models import OrgUnit


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


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


@dataclass(slots=True)
class Month:
    unit_path: str
    unit_name: str
    month: str
    dues: DuesPart | None = None
    requests: list[request_rates.Rates] | None = None  # the unit first, then the units below it
    theme: ThemePart | None = None
    mobile: MobilePart | None = None
    below: list[tuple[str, str]] = field(default_factory=list)  # (path, name) of the units below

    @property
    def empty(self) -> bool:
        return self.dues is None and self.requests is None and self.theme is None and self.mobile is None


def home_of(identity: Identity) -> str | None:
    """The unit a user's dashboard opens on: the widest of their scopes over what it shows."""
    found = [scope(identity, a) for a in SECTIONS]
    paths = [p for p in found if p is not None]
    return min(paths, key=len) if paths else None


SECTIONS = (Action.RECORD_DUES, Action.REQUEST_STATS, Action.KEEP_RECORDS, Action.MANAGE_MOBILE)


def allowed(identity: Identity, unit_path: str) -> bool:
    return any(within(unit_path, scope(identity, a)) for a in SECTIONS)


def month_view(
    session: Session,
    identity: Identity,
    unit_path: str,
    month: str,
    *,
    dues_start: str | None,
    timezone: str,
    rounding: str,
) -> Month:
    name = session.scalar(select(OrgUnit.name).where(OrgUnit.path == unit_path)) if unit_path else ""
    view = Month(unit_path, name or "", month)
    if within(unit_path, scope(identity, Action.RECORD_DUES)):
        start = dues.start_month(session, dues_start, timezone)
        found = dues.collection(session, unit_path, month, start=start, rounding=rounding)
        view.dues = DuesPart(
            found.rate,
            len(found.due),
            len(found.paid),
            yuan(found.due_fen),
            yuan(found.paid_fen),
            len(found.behind(3)),
        )
    if within(unit_path, scope(identity, Action.REQUEST_STATS)):
        view.requests = request_rates.rates(session, month, unit_path)
    if within(unit_path, scope(identity, Action.KEEP_RECORDS)):
        view.theme = ThemePart(theme_day.month_overview(session, unit_path, month))
    if within(unit_path, scope(identity, Action.MANAGE_MOBILE)):
        members = mobile.mobile_members(session, unit_path)
        silent = mobile.not_reported(session, month, unit_path)
        view.mobile = MobilePart(len(members), len(members) - len(silent))
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
