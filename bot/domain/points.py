"""积分: points for what members do (study, the theme day's sign-in, 补学, and later dues and report-ins), by
the rules in content/points.yaml. One ledger row per award (models.points.PointEntry), keyed by the thing it
was for, so the same thing never earns twice — also when two processes award it at the same moment.

Callers give a reason code and a key that names the thing:

    award(session, member_id, "study", f"study:{material_id}:{member_id}", now)
    award(session, member_id, "theme_day_sign_in", f"theme_day:{event_id}:{member_id}:sign_in", now)
    award(session, member_id, "make_up", f"theme_day:{event_id}:{member_id}:make_up", now)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache
from importlib import resources
from types import MappingProxyType
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.policy import within
from models import Member, OrgUnit, PointEntry
from models.db import dialect_insert

DEFAULT_TIMEZONE = "Asia/Shanghai"
# The reason codes other capabilities award with (content/points.yaml has their points).
STUDY = "study"
THEME_DAY_SIGN_IN = "theme_day_sign_in"
MAKE_UP = "make_up"


class UnknownReason(ValueError):
    """A reason code content/points.yaml has no rule for."""


@cache
def rules() -> Mapping[str, int]:
    """Points per reason code, from content/points.yaml (read once; read-only)."""
    doc = yaml.safe_load((resources.files("content") / "points.yaml").read_text(encoding="utf-8")) or {}
    found = {str(reason): int(points) for reason, points in (doc.get("rules") or {}).items()}
    return MappingProxyType(found)


def points_for(reason: str) -> int:
    try:
        return rules()[reason]
    except KeyError:
        raise UnknownReason(f"content/points.yaml has no rule for {reason!r}") from None


def award(session: Session, member_id: int, reason: str, key: str, now: datetime) -> bool:
    """Give `member_id` the points `reason` earns, once per `key`. Returns False when that key was already
    awarded (nothing changes). Race-safe: INSERT … ON CONFLICT DO NOTHING on the unique key (SQLite and
    PostgreSQL), so two processes awarding the same thing at once write one row."""
    points = points_for(reason)
    unit_id = session.scalar(select(Member.unit_id).where(Member.id == member_id))
    statement = (
        dialect_insert(session)(PointEntry)
        .values(member_id=member_id, points=points, reason=reason, key=key, unit_id=unit_id, at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True, slots=True)
class PointsSummary:
    """A member's points this month and this year (local time), and this month's by reason."""

    month: int
    year: int
    month_by_reason: dict[str, int]


def month_bounds(year: int, month: int, timezone: str = DEFAULT_TIMEZONE) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month in the local time zone, as UTC moments."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(date(year, month, 1), time(), zone)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return start.astimezone(UTC), datetime.combine(following, time(), zone).astimezone(UTC)


def _year_bounds(year: int, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    start = datetime.combine(date(year, 1, 1), time(), zone)
    return start.astimezone(UTC), datetime.combine(date(year + 1, 1, 1), time(), zone).astimezone(UTC)


def summary(
    session: Session, member_id: int, now: datetime, timezone: str = DEFAULT_TIMEZONE
) -> PointsSummary:
    """Points this month and this year, as of `now` in `timezone`."""
    local = now.astimezone(ZoneInfo(timezone))
    month_start, month_end = month_bounds(local.year, local.month, timezone)
    year_start, year_end = _year_bounds(local.year, timezone)
    by_reason = {
        str(reason): int(total)
        for reason, total in session.execute(
            select(PointEntry.reason, func.sum(PointEntry.points))
            .where(PointEntry.member_id == member_id, PointEntry.at >= month_start, PointEntry.at < month_end)
            .group_by(PointEntry.reason)
        ).all()
    }
    year_total = session.scalar(
        select(func.coalesce(func.sum(PointEntry.points), 0)).where(
            PointEntry.member_id == member_id, PointEntry.at >= year_start, PointEntry.at < year_end
        )
    )
    return PointsSummary(sum(by_reason.values()), int(year_total or 0), by_reason)


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int  # equal points share a rank (1, 2, 2, 4)
    member_id: int
    name: str
    points: int


def branch_ranking(
    session: Session, branch_path: str, month: tuple[int, int], timezone: str = DEFAULT_TIMEZONE
) -> list[Ranked]:
    """The active members of the branch's subtree (as the roster has them now) by their points in `month`
    ((year, month), local time), most first; members without points this month are ranked last, by name."""
    start, end = month_bounds(month[0], month[1], timezone)
    members = session.execute(
        select(Member.id, Member.name, OrgUnit.path)
        .join(OrgUnit, Member.unit_id == OrgUnit.id)
        .where(Member.active.is_(True))
    ).all()
    inside = {int(m_id): str(name) for m_id, name, path in members if within(str(path), branch_path)}
    totals = dict.fromkeys(inside, 0)
    if inside:
        for member_id, total in session.execute(
            select(PointEntry.member_id, func.sum(PointEntry.points))
            .where(PointEntry.at >= start, PointEntry.at < end)
            .group_by(PointEntry.member_id)
        ).all():
            if int(member_id) in totals:
                totals[int(member_id)] = int(total)
    order = sorted(totals, key=lambda m: (-totals[m], inside[m], m))
    ranked: list[Ranked] = []
    for position, member_id in enumerate(order, 1):
        previous = ranked[-1] if ranked else None
        rank = previous.rank if previous and previous.points == totals[member_id] else position
        ranked.append(Ranked(rank, member_id, inside[member_id], totals[member_id]))
    return ranked


def mask_name(name: str) -> str:
    """王秀兰 → 王**: another member's name in a ranking (DOMAIN.md, PIPL: least privilege)."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else "*"
