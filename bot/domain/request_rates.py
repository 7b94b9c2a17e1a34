"""The three rates of 居民诉求 per unit and month (the month of filing, local time), as Beijing's 接诉即办
measures them:

- 响应率 = responded / tickets: taken within take_due (a ticket taken and later transferred keeps its first
  response);
- 解决率 = solved / tickets: its latest 办结 within solve_due and not open again (a reopened ticket counts by
  the 办结 that finally closed it);
- 满意率 = satisfied / rated: 满意 or 基本满意 among the rated, each reporter's latest rating counting (a
  merged group's every reporter); tickets closed unrated are counted apart.

A merged group counts once for the first two (its primary). One grouped query per month over the owning
unit (the index on filed_month, unit_id), rolled up the tree in Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from bot.domain.places import path_key
from bot.domain.policy import within
from bot.domain.request_core import OUTCOMES, UNRATED, State
from models import OrgUnit, RequestTicket, UnitKind

_COUNTS = ("tickets", "responded", "solved", "rated", "satisfied", "unrated_closed")


@dataclass(frozen=True, slots=True)
class Rates:
    unit_path: str
    unit_name: str
    month: str
    tickets: int
    responded: int
    solved: int
    rated: int
    satisfied: int
    unrated_closed: int

    @property
    def response_rate(self) -> float | None:
        return self.responded / self.tickets if self.tickets else None

    @property
    def solve_rate(self) -> float | None:
        return self.solved / self.tickets if self.tickets else None

    @property
    def satisfaction_rate(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


def _one(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def month_counts(session: Session, month: str) -> dict[int, tuple[int, ...]]:
    """The month's counts per owning unit (unit id → counts in the order of `_COUNTS`), in one query."""
    return months_counts(session, [month]).get(month, {})


def months_counts(session: Session, months: Sequence[str]) -> dict[str, dict[int, tuple[int, ...]]]:
    """`month_counts` for several months in one grouped query (month → unit id → counts)."""
    t = RequestTicket
    primary = t.primary_id.is_(None)
    rated = (OUTCOMES[1], OUTCOMES[2], OUTCOMES[3])
    query = (
        select(
            t.filed_month,
            t.unit_id,
            _one(primary),
            _one(and_(primary, t.taken_at.is_not(None), t.taken_at <= t.take_due)),
            _one(
                and_(
                    primary,
                    t.state.in_((State.SOLVED, State.CLOSED)),
                    t.solved_at.is_not(None),
                    t.solved_at <= t.solve_due,
                )
            ),
            _one(t.outcome.in_(rated)),
            _one(t.outcome.in_(rated[:2])),
            _one(t.outcome == UNRATED),
        )
        .where(t.filed_month.in_(list(months)))
        .group_by(t.filed_month, t.unit_id)
    )
    found: dict[str, dict[int, tuple[int, ...]]] = {m: {} for m in months}
    for row in session.execute(query):
        found.setdefault(str(row[0]), {})[int(row[1])] = tuple(int(v or 0) for v in row[2:])
    return found


def rates(session: Session, month: str, scope_path: str, by: str = "unit") -> list[Rates]:
    """The rates of `scope_path` (its whole subtree) first, then of each unit below it: its child units
    (`by="unit"`), or every 网格党支部 in it (`by="grid"`), each with its subtree. "" is every unit: the
    roots come then as the units below."""
    return rates_by_month(session, [month], scope_path, by)[month]


def rates_by_month(
    session: Session,
    months: Sequence[str],
    scope_path: str,
    by: str = "unit",
    counts: dict[str, dict[int, tuple[int, ...]]] | None = None,
) -> dict[str, list[Rates]]:
    """`rates` for each of `months` (the trend), from one grouped query (or `counts`: `months_counts`'s,
    kept by the caller)."""
    all_counts = months_counts(session, months) if counts is None else counts
    units = session.execute(
        select(OrgUnit.id, OrgUnit.path, OrgUnit.name, OrgUnit.kind, OrgUnit.parent_id)
    ).all()
    by_id = {int(i): (str(p), str(n), str(k), parent) for i, p, n, k, parent in units}
    names = {path: name for path, name, _, _ in by_id.values()}
    scope_id = next((i for i, (p, *_rest) in by_id.items() if p == scope_path), None)
    if by == "grid":
        below = sorted(
            (
                p
                for p, _, kind, _ in by_id.values()
                if kind == UnitKind.BRANCH.value and within(p, scope_path) and p != scope_path
            ),
            key=path_key,
        )
    else:
        below = sorted(
            (
                p
                for p, _, _, parent in by_id.values()
                if (parent == scope_id if scope_path else parent is None) and p != scope_path
            ),
            key=path_key,
        )

    found: dict[str, list[Rates]] = {}
    for month in months:
        totals: dict[str, list[int]] = {}
        for unit_id, row in all_counts.get(month, {}).items():
            path = by_id[unit_id][0] if unit_id in by_id else ""
            parts = path.split("/") if path else []
            for depth in range(len(parts), -1, -1):  # the unit and each unit above it, and "" (everything)
                total = totals.setdefault("/".join(parts[:depth]), [0] * len(_COUNTS))
                for i, value in enumerate(row):
                    total[i] += value
        found[month] = [
            Rates(p, names.get(p, ""), month, *totals.get(p, [0] * len(_COUNTS)))
            for p in [scope_path, *below]
        ]
    return found
