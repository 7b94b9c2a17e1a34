"""党费: what a member owes each month and why (the 2008 standards in content/dues.yaml, the declared
base, the member's kind, the branch's rate for farmers, reductions and waivers), what they paid (the
append-only ledger, models.dues; its writes are in bot.domain.dues_ledger), arrears since the dues start
month, and the collection of a subtree.

Money is integer fen everywhere. The rate applies to the whole base (3000.01 → 30.00, not marginal). A base
change applies from the next month. Functions take a synchronous Session (run them through `Database.run`)
and plain values; no words: results are small dataclasses and enums the callers put into words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from typing import ClassVar
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    DuesAdjustment,
    DuesBase,
    DuesClaim,
    DuesEntry,
    DuesEntryKind,
    DuesUnitRate,
    Member,
    OrgUnit,
)
from models.db import ids_in

# Points (bot.domain.points.award) through a hook, as in bot.domain.attendance.
Award = Callable[[Session, int, str, str, datetime], bool]
POINTS_REASON = "dues"
ROUNDINGS = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN, "up": ROUND_CEILING}
# How far ahead a month may be paid (预交): this many months after the current one.
AHEAD = 12


# --- months ------------------------------------------------------------------------------------------

_MONTH = r"(\d{4})\s*(?:[-./年])\s*(\d{1,2})\s*月?"
_MONTH_RE = re.compile(rf"^{_MONTH}$")
_RANGE_RE = re.compile(rf"^{_MONTH}\s*(?:至|到|~|～|—|--)\s*{_MONTH}$")


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def local_month(now: datetime, timezone: str) -> str:
    return month_of(now.astimezone(ZoneInfo(timezone)).date())


def add_months(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included (empty when last < first)."""
    found: list[str] = []
    month = first
    while month <= last:
        found.append(month)
        month = add_months(month, 1)
    return found


def _valid(year: str, month: str) -> str | None:
    y, m = int(year), int(month)
    return f"{y:04d}-{m:02d}" if 2000 <= y <= 2100 and 1 <= m <= 12 else None


def parse_months(text: str) -> list[str] | None:
    """`2026-11`, `2026年11月`, `2026.11`, or a range `2026-09至2026-11` → the months; None when unreadable
    (a 13th month, a range going backwards, more than 36 months)."""
    text = text.strip()
    single = _MONTH_RE.match(text)
    if single:
        month = _valid(single.group(1), single.group(2))
        return [month] if month else None
    pair = _RANGE_RE.match(text)
    if not pair:
        return None
    first, last = _valid(pair.group(1), pair.group(2)), _valid(pair.group(3), pair.group(4))
    if first is None or last is None or last < first:
        return None
    months = months_between(first, last)
    return months if len(months) <= 36 else None


def month_label(month: str) -> str:
    """`2026-11` → `2026年11月`."""
    return f"{int(month[:4])}年{int(month[5:7])}月"


# --- the standards (content/dues.yaml) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bracket:
    up_to_fen: int | None  # None: no upper bound
    rate: Decimal


@dataclass(frozen=True, slots=True)
class Range:
    min_fen: int
    max_fen: int
    default_fen: int


@dataclass(frozen=True, slots=True)
class Standard:
    effective: date
    employed_kinds: frozenset[str]
    employed: tuple[Bracket, ...]
    retired_kinds: frozenset[str]
    retired: tuple[Bracket, ...]
    fixed: Mapping[str, int]
    branch_set: Mapping[str, Range]
    # (base, retired, rounding) → bracket_amount's answer: a street's trend asks it 1.2 M times, and
    # hashing the brackets for the lru_cache cost more than the lookup
    amounts: dict[tuple[int, bool, str], tuple[int, Bracket]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )


def _brackets(items: Iterable[Mapping[str, object]]) -> tuple[Bracket, ...]:
    found = []
    for item in items:
        up_to = item.get("up_to_fen")
        found.append(Bracket(int(str(up_to)) if up_to is not None else None, Decimal(str(item["rate"]))))
    return tuple(found)


@cache
def standards() -> tuple[Standard, ...]:
    """The standards in content/dues.yaml, oldest first (read once)."""
    doc = yaml.safe_load((resources.files("content") / "dues.yaml").read_text(encoding="utf-8")) or {}
    found = []
    for item in doc.get("standards") or []:
        effective = item["effective"]
        if not isinstance(effective, date):
            effective = date.fromisoformat(str(effective))
        found.append(
            Standard(
                effective=effective,
                employed_kinds=frozenset(item["employed"]["kinds"]),
                employed=_brackets(item["employed"]["brackets"]),
                retired_kinds=frozenset(item["retired"]["kinds"]),
                retired=_brackets(item["retired"]["brackets"]),
                fixed={str(k): int(v) for k, v in (item.get("fixed") or {}).items()},
                branch_set={
                    str(k): Range(int(v["min_fen"]), int(v["max_fen"]), int(v["default_fen"]))
                    for k, v in (item.get("branch_set") or {}).items()
                },
            )
        )
    return tuple(sorted(found, key=lambda s: s.effective))


@cache  # a street's 12-month collection asks it a million times, for twelve months
def standard_for(month: str) -> Standard:
    first = date(int(month[:4]), int(month[5:7]), 1)
    chosen = [s for s in standards() if s.effective <= first]
    if not chosen:
        raise ValueError(f"content/dues.yaml has no standard in force in {month}")
    return chosen[-1]


def round_fen(value: Decimal, rounding: str = "half_up") -> int:
    return int(value.quantize(Decimal(1), rounding=ROUNDINGS.get(rounding, ROUND_HALF_UP)))


@lru_cache(maxsize=65_536)  # a member's base recurs month after month (a street's trend: 1.2 M lookups)
def bracket_amount(
    base_fen: int, brackets: tuple[Bracket, ...], rounding: str = "half_up"
) -> tuple[int, Bracket]:
    """The monthly amount for a base: the bracket's rate on the whole base, rounded to the fen."""
    for bracket in brackets:
        if bracket.up_to_fen is None or base_fen <= bracket.up_to_fen:
            return round_fen(Decimal(base_fen) * bracket.rate, rounding), bracket
    raise ValueError("content/dues.yaml: the last bracket must have no upper bound")


# --- what a month costs -------------------------------------------------------------------------------


class Basis(StrEnum):
    EMPLOYED = "employed"  # brackets on the declared monthly income
    RETIRED = "retired"  # brackets on the pension
    FIXED = "fixed"  # a fixed amount for the kind (学生, 无业, 低保)
    BRANCH = "branch"  # the branch's amount for the kind (农民)
    ADJUSTED = "adjusted"  # a reduction or waiver (amount 0), with its approval reference
    NO_BASE = "no_base"  # the base was never declared: the amount is unknown


@dataclass(frozen=True, slots=True)
class Due:
    month: str
    amount_fen: int | None  # None: no base declared
    basis: Basis
    base_fen: int | None = None
    rate: Decimal | None = None
    approval_ref: str | None = None


@dataclass(slots=True)
class Facts:
    """What decides one member's dues: loaded once, then any month's amount is computed without queries."""

    member_id: int
    kind: str
    unit_id: int
    first_month: str  # the first month dues are owed: the start month, or the month they were approved
    roster_base_fen: int | None
    bases: list[tuple[str, int]] = field(default_factory=list)  # (valid_from, fen), oldest first
    adjustments: list[tuple[str, str, int, str]] = field(default_factory=list)  # first, last, fen, ref
    branch_rates: list[tuple[str, int]] = field(default_factory=list)  # for the member's kind, oldest first

    def base_for(self, month: str) -> int | None:
        found = self.roster_base_fen if not self.bases or self.bases[0][0] > month else None
        for valid_from, fen in self.bases:
            if valid_from <= month:
                found = fen
        return found


def due_for(facts: Facts, month: str, rounding: str = "half_up") -> Due | None:
    """What `month` costs the member; None when nothing is owed for it (before their first month)."""
    if month < facts.first_month:
        return None
    for first, last, fen, ref in reversed(facts.adjustments):
        if first <= month <= last:
            return Due(month, fen, Basis.ADJUSTED, approval_ref=ref)
    standard = standard_for(month)
    if facts.kind in standard.fixed:
        return Due(month, standard.fixed[facts.kind], Basis.FIXED)
    if facts.kind in standard.branch_set:
        rng = standard.branch_set[facts.kind]
        amount = rng.default_fen
        for valid_from, fen in facts.branch_rates:
            if valid_from <= month:
                amount = min(max(fen, rng.min_fen), rng.max_fen)
        return Due(month, amount, Basis.BRANCH)
    retired = facts.kind in standard.retired_kinds
    base = facts.base_for(month)
    if base is None:
        return Due(month, None, Basis.NO_BASE)
    key = (base, retired, rounding)
    found = standard.amounts.get(key)
    if found is None:
        found = bracket_amount(base, standard.retired if retired else standard.employed, rounding)
        standard.amounts[key] = found
    amount, bracket = found
    return Due(month, amount, Basis.RETIRED if retired else Basis.EMPLOYED, base, bracket.rate)


def start_month(session: Session, start: str | None, timezone: str) -> str:
    """The first month dues are counted from: the setting, else the month of the first roster import (the
    earliest member created). Arrears never count from before it."""
    if start:
        months = parse_months(start)
        if months:
            return months[0]
    first = session.scalar(select(func.min(Member.created_at)))
    if first is None:
        return "9999-12"
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return local_month(first, timezone)


def _unit_chain(session: Session) -> dict[int, int | None]:
    return {int(i): p for i, p in session.execute(select(OrgUnit.id, OrgUnit.parent_id)).all()}


def load_facts(session: Session, member_ids: Sequence[int], start: str) -> dict[int, Facts]:
    """Facts for these members (a chunk of a few thousand at a time for a job). Core rows on the session's
    connection: a street's dashboard reads 100 000 members' facts, and ORM result handling doubled it."""
    if not member_ids:
        return {}
    ids = list(member_ids)
    db = session.connection()
    facts: dict[int, Facts] = {}
    for m_id, kind, unit_id, joined_on, base in db.execute(
        select(Member.id, Member.kind, Member.unit_id, Member.joined_on, Member.dues_base_fen).where(
            ids_in(db, Member.id, ids)
        )
    ).all():
        first = max(start, month_of(joined_on)) if joined_on is not None else start
        facts[int(m_id)] = Facts(int(m_id), str(kind), int(unit_id), first, base)
    for m_id, valid_from, fen in db.execute(
        select(DuesBase.member_id, DuesBase.valid_from, DuesBase.base_fen)
        .where(ids_in(db, DuesBase.member_id, ids))
        .order_by(DuesBase.valid_from, DuesBase.id)
    ).all():
        facts[int(m_id)].bases.append((str(valid_from), int(fen)))
    for m_id, first_month, last_month, fen, ref in db.execute(
        select(
            DuesAdjustment.member_id,
            DuesAdjustment.first_month,
            DuesAdjustment.last_month,
            DuesAdjustment.amount_fen,
            DuesAdjustment.approval_ref,
        )
        .where(ids_in(db, DuesAdjustment.member_id, ids))
        .order_by(DuesAdjustment.id)
    ).all():
        facts[int(m_id)].adjustments.append((str(first_month), str(last_month), int(fen), str(ref)))
    rates = list(
        session.execute(
            select(
                DuesUnitRate.unit_id, DuesUnitRate.kind, DuesUnitRate.valid_from, DuesUnitRate.amount_fen
            ).order_by(DuesUnitRate.valid_from, DuesUnitRate.id)
        ).all()
    )
    if rates:
        parents = _unit_chain(session)
        by_unit: dict[tuple[int, str], list[tuple[str, int]]] = {}
        for unit_id, kind, valid_from, fen in rates:
            by_unit.setdefault((int(unit_id), str(kind)), []).append((str(valid_from), int(fen)))
        for f in facts.values():
            unit: int | None = f.unit_id
            while unit is not None:
                if (unit, f.kind) in by_unit:
                    f.branch_rates = by_unit[(unit, f.kind)]
                    break
                unit = parents.get(unit)
    return facts


def paid_months(session: Session, member_ids: Sequence[int], first: str, last: str) -> dict[int, set[str]]:
    """The months paid (a payment not reversed) between first and last, per member."""
    # A reversal is a row of the same member: looking only at these members' rows keeps this an index
    # read (all reversals of the ledger were a full scan per chunk of a job on PostgreSQL).
    db = session.connection()
    reversed_ids = select(DuesEntry.reverses_id).where(
        ids_in(db, DuesEntry.member_id, member_ids), DuesEntry.reverses_id.is_not(None)
    )
    found: dict[int, set[str]] = {}
    # One row per member with their months joined (a street's chunk is ~23 000 ledger rows otherwise).
    for m_id, months in db.execute(
        select(DuesEntry.member_id, func.aggregate_strings(DuesEntry.month, ","))
        .where(
            ids_in(db, DuesEntry.member_id, member_ids),
            DuesEntry.kind == DuesEntryKind.PAYMENT.value,
            DuesEntry.month >= first,
            DuesEntry.month <= last,
            DuesEntry.id.not_in(reversed_ids),
        )
        .group_by(DuesEntry.member_id)
    ).all():
        found[int(m_id)] = set(str(months).split(","))
    return found


def credit_of(session: Session, member_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(DuesEntry.amount_fen), 0)).where(
                DuesEntry.member_id == member_id, DuesEntry.kind == DuesEntryKind.CREDIT.value
            )
        )
        or 0
    )


# --- a member's standing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    month: str  # the current month
    due: Due | None  # this month's (None: nothing owed this month)
    paid_this_month: bool
    paid_this_year: list[str]  # months of this year paid, in order
    arrears: list[Due]  # months before this one unpaid (amount > 0 or unknown), oldest first
    credit_fen: int
    pending: list[str] = field(default_factory=list)  # months reported 已交, waiting for the secretary

    @property
    def arrears_fen(self) -> int:
        return sum(d.amount_fen or 0 for d in self.arrears)

    @property
    def arrears_unknown(self) -> int:
        return sum(1 for d in self.arrears if d.amount_fen is None)


def settled(due: Due | None, paid: set[str]) -> bool:
    return due is None or due.amount_fen == 0 or due.month in paid


def unpaid_run(facts: Facts, paid: set[str], month: str, rounding: str) -> int:
    """How many consecutive months right before `month` are unpaid (the escalation count)."""
    run = 0
    current = add_months(month, -1)
    while current >= facts.first_month and run < 24:
        if settled(due_for(facts, current, rounding), paid):
            break
        run += 1
        current = add_months(current, -1)
    return run


def standing(
    session: Session, member_id: int, now: datetime, *, start: str, timezone: str, rounding: str
) -> Standing:
    month = local_month(now, timezone)
    facts = load_facts(session, [member_id], start)[member_id]
    year_start = f"{month[:4]}-01"
    first = min(facts.first_month, year_start)
    paid = paid_months(session, [member_id], first, add_months(month, AHEAD)).get(member_id, set())
    arrears = [
        d
        for m in months_between(facts.first_month, add_months(month, -1))
        if (d := due_for(facts, m, rounding)) is not None and not settled(d, paid)
    ]
    due = due_for(facts, month, rounding)
    pending: list[str] = []
    for first_m, last_m in session.execute(
        select(DuesClaim.first_month, DuesClaim.last_month)
        .where(DuesClaim.member_id == member_id, DuesClaim.status == "pending")
        .order_by(DuesClaim.id)
    ).all():
        pending.extend(months_between(str(first_m), str(last_m)))
    return Standing(
        month=month,
        due=due,
        paid_this_month=month in paid,
        paid_this_year=sorted(m for m in paid if m.startswith(month[:4])),
        arrears=arrears,
        credit_fen=credit_of(session, member_id),
        pending=pending,
    )


# --- a subtree's month ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    member_id: int
    number: str
    name: str
    unit_path: str
    due: Due
    paid: bool
    run: int  # consecutive unpaid months before this one


@dataclass(frozen=True, slots=True)
class Collection:
    month: str
    lines: list[Line]

    @property
    def due(self) -> list[Line]:
        """Members who owe something this month (a waiver owes nothing)."""
        return [line for line in self.lines if line.due.amount_fen != 0]

    @property
    def paid(self) -> list[Line]:
        return [line for line in self.due if line.paid]

    @property
    def unpaid(self) -> list[Line]:
        return [line for line in self.due if not line.paid]

    @property
    def paid_fen(self) -> int:
        return sum(line.due.amount_fen or 0 for line in self.paid)

    @property
    def due_fen(self) -> int:
        return sum(line.due.amount_fen or 0 for line in self.due)

    @property
    def rate(self) -> float:
        return len(self.paid) / len(self.due) if self.due else 1.0

    def behind(self, months: int = 3) -> list[Line]:
        return [line for line in self.lines if line.run >= months]


CHUNK = 2000


def member_chunks(
    session: Session, scope_path: str, unit_ids: Sequence[int] | None = None
) -> Iterable[list[tuple[int, str, str, str]]]:
    """The active members of a subtree ("" is every unit) as (id, number, name, unit path), in chunks; with
    `unit_ids`, only the members whose own unit is one of them."""
    from bot.domain.binding import in_scope

    last = 0
    db = session.connection()
    where = [Member.active.is_(True), in_scope(scope_path)]
    if unit_ids is not None:
        where.append(ids_in(db, Member.unit_id, unit_ids))
    while True:
        rows = [
            (int(i), str(n), str(name), str(path))
            for i, n, name, path in db.execute(
                select(Member.id, Member.number, Member.name, OrgUnit.path)
                .join(OrgUnit, OrgUnit.id == Member.unit_id)
                .where(Member.id > last, *where)
                .order_by(Member.id)
                .limit(CHUNK)
            ).all()
        ]
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def collection(session: Session, scope_path: str, month: str, *, start: str, rounding: str) -> Collection:
    """Every active member of the subtree owing dues in `month`: what it costs, whether it is paid, and how
    many months before it are unpaid."""
    return collection_by_month(session, scope_path, [month], start=start, rounding=rounding)[month]


def collection_by_month(
    session: Session, scope_path: str, months: Sequence[str], *, start: str, rounding: str
) -> dict[str, Collection]:
    """`collection` for each of `months`: the members' facts and payments read once for all of them."""
    lines: dict[str, list[Line]] = {month: [] for month in months}
    for month, (member_id, number, name, path), due, paid, run, _unit in _month_lines(
        session, scope_path, months, start, rounding
    ):
        lines[month].append(Line(member_id, number, name, path, due, paid, run))
    return {month: Collection(month, found) for month, found in lines.items()}


@dataclass(frozen=True, slots=True)
class Totals:
    """A collection's figures without its lines (the dashboard's trend of a street: no 1.2 million Lines)."""

    month: str
    due: int  # members who owe something
    paid: int
    due_fen: int
    paid_fen: int
    behind: int  # members with BEHIND or more consecutive months unpaid before this one

    COUNTS: ClassVar[tuple[str, ...]] = ("due", "paid", "due_fen", "paid_fen", "behind")

    @property
    def rate(self) -> float:
        return self.paid / self.due if self.due else 1.0

    @classmethod
    def of(cls, found: Collection) -> Totals:
        return cls(
            found.month,
            len(found.due),
            len(found.paid),
            found.due_fen,
            found.paid_fen,
            len(found.behind(BEHIND)),
        )


BEHIND = 3


def totals_by_month(
    session: Session, scope_path: str, months: Sequence[str], *, start: str, rounding: str
) -> dict[str, Totals]:
    """`Totals.of(collection(...))` for each of `months`, from the same lines, counted as they go by."""
    counts = {month: [0] * len(Totals.COUNTS) for month in months}
    for month, _, due, paid, run, _unit in _month_lines(session, scope_path, months, start, rounding):
        _count(counts[month], due, paid, run)
    return {month: Totals(month, *c) for month, c in counts.items()}


def unit_counts(
    session: Session,
    months: Sequence[str],
    unit_ids: Sequence[int] | None = None,
    *,
    start: str,
    rounding: str,
) -> tuple[dict[int, dict[str, list[int]]], dict[int, int]]:
    """`totals_by_month`'s counts per member's own unit (unit id → month → counts in the order of
    `Totals.COUNTS`), for every unit or only `unit_ids`, and the unit of each member counted: what a cache
    of a whole street keeps, to recount only the units whose members changed."""
    found: dict[int, dict[str, list[int]]] = {}
    members: dict[int, int] = {}
    for month, row, due, paid, run, unit_id in _month_lines(session, "", months, start, rounding, unit_ids):
        members[row[0]] = unit_id
        counts = found.setdefault(unit_id, {}).setdefault(month, [0] * len(Totals.COUNTS))
        _count(counts, due, paid, run)
    return found, members


def _count(counts: list[int], due: Due, paid: bool, run: int) -> None:
    """One member's month in a collection's totals: owes (and how much), paid, behind."""
    if due.amount_fen != 0:
        counts[0] += 1
        counts[2] += due.amount_fen or 0
        if paid:
            counts[1] += 1
            counts[3] += due.amount_fen or 0
    if run >= BEHIND:
        counts[4] += 1


def _month_lines(
    session: Session,
    scope_path: str,
    months: Sequence[str],
    start: str,
    rounding: str,
    unit_ids: Sequence[int] | None = None,
) -> Iterator[tuple[str, tuple[int, str, str, str], Due, bool, int, int]]:
    """Every (month, member, due, paid, unpaid run, member's unit id) of the subtree's active members (or
    those of `unit_ids`) owing in `months`: the one rule behind `collection`, `collection_by_month`,
    `totals_by_month` and `unit_counts`."""
    if not months:
        return
    ordered = sorted(set(months))
    first, last = ordered[0], ordered[-1]
    previous = {month: add_months(month, -1) for month in ordered}  # not 1.2 M calls for a street
    for chunk in member_chunks(session, scope_path, unit_ids):
        ids = [row[0] for row in chunk]
        facts = load_facts(session, ids, start)
        paid = paid_months(session, ids, add_months(first, -24), last)
        for row in chunk:
            f = facts[row[0]]
            mine = paid.get(row[0], set())
            before: tuple[str, Due | None, int] | None = None  # the month before: its due and its run
            for month in ordered:
                due = due_for(f, month, rounding)
                if before is not None and before[0] == previous[month]:
                    # unpaid_run, one month on: the run before `month` is the one before the month before
                    # it plus that month, if it is unpaid (and not before the first month), at most 24.
                    unpaid = before[0] >= f.first_month and not settled(before[1], mine)
                    run = min(24, before[2] + 1) if unpaid else 0
                else:
                    run = unpaid_run(f, mine, month, rounding)
                before = (month, due, run)
                if due is not None:
                    yield month, row, due, month in mine, run, f.unit_id
