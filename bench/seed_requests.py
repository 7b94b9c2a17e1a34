"""Tickets of 居民诉求 for bench/requests_bench.py, on the org tree of bench/seed_branches.py (G 网格党支部,
ten to a 社区党委, one street): one grid worker (网格员) per grid, bound to WeChat, and two sets of tickets
written with bulk inserts (SQLite: executemany; PostgreSQL: COPY).

The month (2026-11, Beijing time): `month_n` tickets filed evenly through it, each owned by a grid (2 % by a
community: no building given), 3 % urgent, 5 % complex, 6 % linked to the open primary of their grid within
24 h (a merged group). Of the primaries 85 % are taken in time, 12 % late, 3 % never; of those taken 80 %
are solved in time, 14 % late, 6 % still open (or solved too late to be before the moment of the run); of the
solved 3 % were reopened once; solved in the last three days: half wait for a rating; the rest are rated 1
满意 (62 %), 2 基本满意 (20 %), 3 不满意 (6 %) or closed unrated (12 %), each linked reporter rating on their
own. The deadline job has done with them (next_step_at empty). `expected` holds what the three rates must
count, per owning unit, by the same definitions as bot.domain.request_rates.

The open tickets: `open_n` tickets filed before `NOW` (Monday 7 December 2026, 10:00 Beijing) such that the
job has work of every kind: the take phase's 80 % reminder, its first and second escalation, the solve
phase's three, the rating reminder, the unrated close, tickets linked to them (told of escalations) and
tickets with nothing due yet (`JOB_KINDS`). `job` holds the job's summary counts.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from seed_branches import (
    BRANCHES_PER_COMMUNITY,
    GROUPS_PER_BRANCH,
    branch_path,
    building_name,
    community_path,
)

from bot.domain.request_core import CATEGORIES, RequestRules, step_times

MONTH = "2026-11"
MONTH_START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 1 November 00:00 Beijing
MONTH_END = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 7 December, 10:00 Beijing: no quiet hours
SEED = 14
CHUNK = 20_000
BEIJING = timedelta(hours=8)
H, D = timedelta(hours=1), timedelta(days=1)
RULES = RequestRules()
# The open tickets: (kind, share, state, steps done, the span's fraction gone at NOW).
JOB_KINDS: tuple[tuple[str, float, str, int, tuple[float, float]], ...] = (
    ("take_remind", 0.28, "new", 0, (0.82, 0.98)),
    ("take_escalate1", 0.10, "new", 1, (1.02, 1.95)),
    ("take_escalate2", 0.05, "new", 2, (2.02, 4.0)),
    ("solve_remind", 0.20, "taken", 0, (0.81, 0.98)),
    ("solve_escalate1", 0.07, "taken", 1, (1.02, 1.95)),
    ("solve_escalate2", 0.03, "taken", 2, (2.02, 2.6)),
    ("rate_remind", 0.08, "solved", 0, (2.05, 2.95)),  # days since solved
    ("rate_close", 0.05, "solved", 1, (3.05, 5.0)),
    ("linked", 0.04, "new", 0, (0.0, 0.0)),  # linked to a take-phase primary of their grid
    ("waiting", 0.10, "new", 0, (0.05, 0.75)),  # nothing due yet
)
_SHARED = ("state", "taken_at", "taken_by_openid", "taken_by_staff_id", "taken_by_name", "solved_at",
           "closed_at", "reopen_count", "category", "take_due", "solve_due")  # fmt: skip
COUNTS = ("tickets", "responded", "solved", "rated", "satisfied", "unrated_closed")


@dataclass(slots=True)
class Town:
    """What the tickets need of the seeded tree: unit ids and the grids' buildings."""

    street: int
    grids: list[int]  # by branch number
    communities: list[int]
    buildings: dict[int, list[tuple[int, str]]]  # grid unit id → (building id, name)
    paths: dict[int, str]

    @classmethod
    def of(cls, path: Path, branches: int) -> Town:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            units = {str(p): int(i) for i, p in conn.execute("SELECT id, path FROM org_units")}
            names = {str(n): int(i) for i, n in conn.execute("SELECT id, name FROM buildings")}
        grids = [units[branch_path(b)] for b in range(branches)]
        count = -(-branches // BRANCHES_PER_COMMUNITY)
        return cls(
            street=units[community_path(0).rpartition("/")[0]],
            grids=grids,
            communities=[units[community_path(c)] for c in range(count)],
            buildings={
                grids[b]: [
                    (names[n], n) for n in (building_name(b * GROUPS_PER_BRANCH + k) for k in range(2))
                ]
                for b in range(branches)
            },
            paths={i: p for p, i in units.items()},
        )


@dataclass(slots=True)
class Plan:
    town: Town
    month_n: int
    open_n: int
    expected: dict[int, list[int]] = field(default_factory=dict)  # owning unit → COUNTS
    job: dict[str, int] = field(default_factory=dict)  # kind → tickets
    written: int = 0

    def staff(self) -> dict[str, list[dict[str, Any]]]:
        at = NOW - 30 * D
        staff = [
            {"id": b + 1, "number": f"WG{b + 1:04d}", "name": f"网格员{b + 1}", "role": "网格员",
             "unit_id": g, "active": True, "created_at": at, "updated_at": at}
            for b, g in enumerate(self.town.grids)
        ]  # fmt: skip
        openids = [_grid_openid(b) for b in range(len(self.town.grids))]
        return {
            "staff": staff,
            "bindings": [
                {"openid": o, "member_id": None, "staff_id": b + 1, "method": "demo", "bound_at": at}
                for b, o in enumerate(openids)
            ],
            "wechat_users": [
                {
                    "openid": o,
                    "subscribed": True,
                    "first_seen_at": at,
                    "last_seen_at": at,
                    "subscribed_at": at,
                    "window_left": 0,
                }
                for o in openids
            ],
        }

    def chunks(self) -> Iterator[list[dict[str, Any]]]:
        """The tickets, CHUNK at a time (ids from 1, the month's first)."""
        rng = random.Random(SEED)
        maker = _Maker(self, rng)
        rows: list[dict[str, Any]] = []
        for i in range(self.month_n):
            rows.append(
                maker.month_ticket(
                    MONTH_START + (MONTH_END - MONTH_START) * ((i + rng.random()) / self.month_n)
                )
            )
            if len(rows) == CHUNK:
                yield rows
                rows = []
        kinds = [k for k, share, *_ in JOB_KINDS for _ in range(round(share * 1000))]
        for _ in range(self.open_n):
            rows.append(maker.open_ticket(rng.choice(kinds)))
            if len(rows) == CHUNK:
                yield rows
                rows = []
        if rows:
            yield rows

    def scope_counts(self, unit_ids: set[int]) -> list[int]:
        total = [0] * len(COUNTS)
        for unit_id, counts in self.expected.items():
            if unit_id in unit_ids:
                total = [a + b for a, b in zip(total, counts, strict=True)]
        return total

    def job_summary(self) -> str:
        k = self.job
        reminded = k.get("take_remind", 0) + k.get("solve_remind", 0)
        escalated = sum(k.get(f"{p}_escalate{s}", 0) for p in ("take", "solve") for s in (1, 2))
        return (
            f"reminded {reminded}, escalated {escalated}, rating reminders {k.get('rate_remind', 0)}, "
            f"closed unrated {k.get('rate_close', 0)}"
        )

    def job_notices(self) -> int:
        """A notice for each reminder, rating reminder and close; two for each escalation (secretaries,
        residents)."""
        k = self.job
        escalated = sum(k.get(f"{p}_escalate{s}", 0) for p in ("take", "solve") for s in (1, 2))
        return (
            sum(k.get(n, 0) for n in ("take_remind", "solve_remind", "rate_remind", "rate_close"))
            + 2 * escalated
        )


def _grid_openid(b: int) -> str:
    return f"o-grid-{b + 1:04d}"


class _Maker:
    def __init__(self, plan: Plan, rng: random.Random) -> None:
        self.plan, self.rng, self.town = plan, rng, plan.town
        self.next_id = 1
        self.per_day: dict[str, int] = {}
        self.last_primary: dict[int, dict[str, Any]] = {}  # owning unit → its latest primary
        self.open_primary: dict[int, dict[str, Any]] = {}

    def _base(self, filed: datetime, urgent: bool = False, complex_: bool = False) -> dict[str, Any]:
        rng, town = self.rng, self.town
        local = filed + BEIJING
        day = local.strftime("%Y%m%d")
        self.per_day[day] = self.per_day.get(day, 0) + 1
        if rng.random() < 0.02:
            unit, building = rng.choice(town.communities), None
        else:
            b = rng.randrange(len(town.grids))
            unit, building = town.grids[b], rng.choice(town.buildings[town.grids[b]])
        category = rng.choice(CATEGORIES)
        resident = rng.randrange(300_000)
        row = {
            "id": self.next_id, "number": f"R{day}-{self.per_day[day]:04d}",
            "reporter_openid": f"o-res-{resident:06d}", "reporter_member_id": None, "reporter_staff_id": None,
            "reporter_name": f"居民{resident}",
            "text": f"{building[1] if building else ''}{category}的问题，请尽快处理",
            "category": category, "urgent": urgent, "complex": complex_,
            "building_id": building[0] if building else None, "door": None,
            "place": building[1] if building else "", "phone_enc": None, "unit_id": unit, "state": "new",
            "taken_by_openid": None, "taken_by_staff_id": None, "taken_by_member_id": None,
            "taken_by_name": None,
            "taken_at": None, "take_due": filed + (2 * H if urgent else 24 * H),
            "solve_due": filed + (15 * D if complex_ else 7 * D), "solved_at": None, "closed_at": None,
            "reopen_count": 0, "outcome": None, "source": "text", "primary_id": None,
            "take_step": 0, "solve_step": 0, "rate_step": 0, "next_step_at": None,
            "filed_at": filed, "filed_month": local.strftime("%Y-%m"), "updated_at": filed,
        }  # fmt: skip
        self.next_id += 1
        return row

    def _taken(self, row: dict[str, Any], at: datetime) -> None:
        row["state"], row["taken_at"] = "taken", at
        if row["unit_id"] in self.town.buildings:
            b = self.town.grids.index(row["unit_id"])
            row.update(
                taken_by_openid=_grid_openid(b), taken_by_staff_id=b + 1, taken_by_name=f"网格员{b + 1}"
            )
        else:
            row.update(taken_by_openid=None, taken_by_name="社区书记")

    def _rating(self) -> str:
        q = self.rng.random()
        return "satisfied" if q < 0.62 else "basic" if q < 0.82 else "unsatisfied" if q < 0.88 else "unrated"

    def month_ticket(self, filed: datetime) -> dict[str, Any]:
        rng = self.rng
        row = self._base(filed, rng.random() < 0.03, rng.random() < 0.05)
        primary = self.last_primary.get(row["unit_id"])
        if primary is not None and filed - primary["filed_at"] < 24 * H and rng.random() < 0.06:
            row["primary_id"] = primary["id"]
            for name in _SHARED:
                row[name] = primary[name]
            if primary["outcome"] is not None:
                row["outcome"] = "unrated" if primary["outcome"] == "unrated" else self._rating()
        else:
            self._fate(row)
            self.last_primary[row["unit_id"]] = row
        row.update(take_step=3, solve_step=3, rate_step=2, next_step_at=None)
        row["updated_at"] = max(
            t for t in (row["filed_at"], row["taken_at"], row["solved_at"], row["closed_at"]) if t
        )
        self._count(row)
        return row

    def _fate(self, row: dict[str, Any]) -> None:
        rng = self.rng
        take_span, solve_span = row["take_due"] - row["filed_at"], row["solve_due"] - row["filed_at"]
        r = rng.random()
        if r < 0.03:
            return  # never taken
        late = r < 0.15
        self._taken(row, row["take_due"] + take_span * rng.uniform(0.05, 1.5) if late
                    else row["filed_at"] + take_span * rng.uniform(0.05, 0.98))  # fmt: skip
        s = rng.random()
        if s < 0.06:
            return  # still being handled
        if s < 0.20:
            solved = row["solve_due"] + solve_span * rng.uniform(0.05, 0.8)
        else:
            solved = row["taken_at"] + max(H, row["solve_due"] - row["taken_at"]) * rng.uniform(0.1, 0.98)
        if solved >= NOW - H:
            return
        row["solved_at"], row["state"] = solved, "solved"
        row["reopen_count"] = 1 if rng.random() < 0.03 else 0
        if solved > NOW - 3 * D and rng.random() < 0.5:
            return  # waiting for the rating
        row["state"], row["outcome"] = "closed", self._rating()
        row["closed_at"] = min(NOW - H, solved + rng.uniform(1, 72) * H)

    def open_ticket(self, kind: str) -> dict[str, Any]:
        rng = self.rng
        _, _, state, done, (low, high) = next(k for k in JOB_KINDS if k[0] == kind)
        gone = rng.uniform(low, high)
        if kind == "linked":
            row = self._base(NOW - rng.uniform(1, 20) * H)
            primary = self.open_primary.get(row["unit_id"])
            if primary is None:
                kind, gone = "waiting", rng.uniform(0.05, 0.75)
                row = self._base(NOW - 24 * H * gone)
            else:
                row.update(
                    primary_id=primary["id"],
                    category=primary["category"],
                    filed_at=primary["filed_at"] + H / 6,
                    take_due=primary["take_due"],
                    solve_due=primary["solve_due"],
                )
        elif kind.startswith("take") or kind == "waiting":
            urgent = rng.random() < 0.03
            span = 2 * H if urgent else 24 * H
            row = self._base(NOW - span * gone, urgent=urgent)
            row["take_step"] = done
            if kind.startswith("take"):
                self.open_primary[row["unit_id"]] = row
        elif kind.startswith("solve"):
            complex_ = rng.random() < 0.05
            span = (15 if complex_ else 7) * D
            row = self._base(NOW - span * gone, complex_=complex_)
            self._taken(row, row["filed_at"] + H)
            row["solve_step"] = done
        else:
            solved = NOW - gone * D
            row = self._base(solved - rng.uniform(1, 5) * D)
            self._taken(row, row["filed_at"] + H)
            row.update(state="solved", solved_at=solved, rate_step=done)
        row["state"] = state
        if row["primary_id"] is None:
            steps = step_times(SimpleNamespace(**row), RULES)
            row["next_step_at"] = steps[0][2] if steps else None
        row["filed_month"] = (row["filed_at"] + BEIJING).strftime("%Y-%m")
        row["updated_at"] = max(t for t in (row["filed_at"], row["taken_at"], row["solved_at"]) if t)
        self.plan.job[kind] = self.plan.job.get(kind, 0) + 1
        if row["filed_month"] == MONTH:
            self._count(row)
        return row

    def _count(self, row: dict[str, Any]) -> None:
        primary = row["primary_id"] is None
        taken, solved, outcome = row["taken_at"], row["solved_at"], row["outcome"]
        values = (
            primary,
            primary and taken is not None and taken <= row["take_due"],
            primary
            and row["state"] in ("solved", "closed")
            and solved is not None
            and solved <= row["solve_due"],
            outcome in ("satisfied", "basic", "unsatisfied"),
            outcome in ("satisfied", "basic"),
            outcome == "unrated",
        )
        counts = self.plan.expected.setdefault(row["unit_id"], [0] * len(COUNTS))
        for i, value in enumerate(values):
            counts[i] += int(value)


# --- the writers --------------------------------------------------------------------------------------


def write_sqlite(path: Path, plan: Plan) -> None:
    from sqlalchemy import create_engine

    from models.base import Base

    tables = Base.metadata.tables
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            for name, rows in plan.staff().items():
                conn.execute(tables[name].insert(), rows)
            for rows in plan.chunks():
                conn.execute(tables["request_tickets"].insert(), rows)
                plan.written += len(rows)
    finally:
        engine.dispose()


async def write_postgres(url: str, plan: Plan) -> None:
    """The grid workers through SQLAlchemy (its column defaults), the tickets by COPY, in one transaction."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from models.base import Base

    tables = Base.metadata.tables
    columns = [c.name for c in tables["request_tickets"].columns]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for name, rows in plan.staff().items():
                await conn.execute(tables[name].insert(), rows)
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            for rows in plan.chunks():
                records = [tuple(r[c] for c in columns) for r in rows]
                await raw.copy_records_to_table("request_tickets", records=records, columns=columns)
                plan.written += len(rows)
            for name in ("staff", "request_tickets"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"coalesce((SELECT max(id) FROM {name}), 0) + 1, false)"
                    )
                )
    finally:
        await engine.dispose()
