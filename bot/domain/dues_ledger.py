"""党费: the ledger's writes. Payments for months or an amount (oldest months first, the rest kept as credit),
corrections (a reversal row, never an update), declared bases, reductions and waivers, the branch's rate for
farmers, and members' own 已交 reports confirmed or returned by a secretary. Functions over a synchronous
Session; results are small dataclasses the callers put into words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.dues import (
    AHEAD,
    POINTS_REASON,
    Award,
    Due,
    Facts,
    Range,
    add_months,
    credit_of,
    due_for,
    load_facts,
    local_month,
    months_between,
    paid_months,
    settled,
    standard_for,
)
from models import DuesAdjustment, DuesBase, DuesClaim, DuesEntry, DuesEntryKind, DuesUnitRate, Member


def _no_points(session: Session, member_id: int, reason: str, key: str, now: datetime) -> bool:
    return False


# --- recording payments ---------------------------------------------------------------------------------


class Refusal(StrEnum):
    BEFORE_START = "before_start"  # before the dues start month (or before the member was approved)
    TOO_FAR = "too_far"  # more than AHEAD months ahead
    NO_BASE = "no_base"  # the base was never declared: the amount is unknown
    ALL_PAID = "all_paid"  # every month given was paid already
    TOO_LITTLE = "too_little"  # an amount below the months' total (import), or below the oldest month due
    NOTHING_DUE = "nothing_due"  # an amount, and no month left unpaid


@dataclass(frozen=True, slots=True)
class Paid:
    months: list[str] = field(default_factory=list)  # newly paid
    already: list[str] = field(default_factory=list)  # paid before: left alone
    total_fen: int = 0  # what the newly paid months cost
    credit_fen: int = 0  # the credit kept after this payment (an amount, or an import's surplus)
    refusal: Refusal | None = None
    month: str | None = None  # the month a refusal is about
    needed_fen: int = 0  # TOO_LITTLE: what the months cost
    next_fen: int = 0  # an amount that paid no month: what the oldest unpaid month costs (0: none unpaid)


@dataclass(frozen=True, slots=True)
class Recorder:
    """Who records, when, and how (chat, import, claim, demo): the ledger keeps all of it."""

    by: int | None
    now: datetime
    source: str
    start: str
    timezone: str
    rounding: str = "half_up"
    paid_on: date | None = None
    note: str = ""
    award: Award = _no_points


def _entry(
    session: Session, member: Facts, month: str | None, kind: DuesEntryKind, fen: int, rec: Recorder
) -> DuesEntry:
    entry = DuesEntry(
        member_id=member.member_id,
        unit_id=member.unit_id,
        month=month,
        kind=kind.value,
        amount_fen=fen,
        paid_on=rec.paid_on or rec.now.astimezone(ZoneInfo(rec.timezone)).date(),
        source=rec.source,
        note=rec.note[:200],
        recorded_by=rec.by,
        created_at=rec.now,
    )
    session.add(entry)
    session.flush()  # the next read in this transaction sees it (PostgreSQL sessions do not autoflush)
    return entry


def _pay(session: Session, facts: Facts, dues: list[Due], rec: Recorder) -> None:
    for due in dues:
        _entry(session, facts, due.month, DuesEntryKind.PAYMENT, due.amount_fen or 0, rec)
        rec.award(session, facts.member_id, POINTS_REASON, f"dues:{facts.member_id}:{due.month}", rec.now)


def check_months(facts: Facts, months: Sequence[str], current: str) -> tuple[Refusal, str] | None:
    for month in months:
        if month < facts.first_month:
            return Refusal.BEFORE_START, month
        if month > add_months(current, AHEAD):
            return Refusal.TOO_FAR, month
    return None


def pay_months(
    session: Session, member_id: int, months: Sequence[str], rec: Recorder, *, amount_fen: int | None = None
) -> Paid:
    """Record `months` paid: each at what it costs (`收党费 王秀兰 2026-09至2026-11`), or, with `amount_fen`
    (a bank statement's 金额), that amount: it must cover the months; the surplus is kept as credit."""
    facts = load_facts(session, [member_id], rec.start)[member_id]
    current = local_month(rec.now, rec.timezone)
    refused = check_months(facts, months, current)
    if refused is not None:
        return Paid(refusal=refused[0], month=refused[1])
    paid = paid_months(session, [member_id], min(months), max(months)).get(member_id, set())
    already = [m for m in months if m in paid]
    dues = [d for m in months if m not in paid and (d := due_for(facts, m, rec.rounding)) is not None]
    for due in dues:
        if due.amount_fen is None:
            return Paid(refusal=Refusal.NO_BASE, month=due.month)
    if not dues:
        return Paid(already=already, refusal=Refusal.ALL_PAID)
    total = sum(d.amount_fen or 0 for d in dues)
    credit = credit_of(session, member_id)
    if amount_fen is not None:
        if amount_fen < total:
            return Paid(refusal=Refusal.TOO_LITTLE, needed_fen=total, already=already)
        if amount_fen > total:
            _entry(session, facts, None, DuesEntryKind.CREDIT, amount_fen - total, rec)
            credit += amount_fen - total
    _pay(session, facts, dues, rec)
    return Paid([d.month for d in dues], already, total, credit)


def pay_amount(session: Session, member_id: int, amount_fen: int, rec: Recorder) -> Paid:
    """`收党费 王秀兰 46.50`: the amount (with any credit kept) pays the oldest unpaid months up to this
    month, each in full; the rest is kept as credit."""
    facts = load_facts(session, [member_id], rec.start)[member_id]
    current = local_month(rec.now, rec.timezone)
    credit = credit_of(session, member_id)
    available = credit + amount_fen
    paid = paid_months(session, [member_id], facts.first_month, current).get(member_id, set())
    chosen: list[Due] = []
    next_fen = 0
    for month in months_between(facts.first_month, current):
        due = due_for(facts, month, rec.rounding)
        if settled(due, paid) or due is None:
            continue
        if due.amount_fen is None:
            if not chosen:
                return Paid(refusal=Refusal.NO_BASE, month=month)
            break
        if due.amount_fen > available:
            next_fen = due.amount_fen
            break
        chosen.append(due)
        available -= due.amount_fen
    if available != credit:
        _entry(session, facts, None, DuesEntryKind.CREDIT, available - credit, rec)
    _pay(session, facts, chosen, rec)
    total = sum(d.amount_fen or 0 for d in chosen)
    return Paid([d.month for d in chosen], [], total, available, next_fen=next_fen)


def reverse_month(session: Session, member_id: int, month: str, rec: Recorder) -> bool:
    """A correction: the month's payment is reversed by a new row (who and when); False when not paid."""
    reversed_ids = select(DuesEntry.reverses_id).where(
        DuesEntry.member_id == member_id, DuesEntry.reverses_id.is_not(None)
    )
    entry = session.scalar(
        select(DuesEntry)
        .where(
            DuesEntry.member_id == member_id,
            DuesEntry.month == month,
            DuesEntry.kind == DuesEntryKind.PAYMENT.value,
            DuesEntry.id.not_in(reversed_ids),
        )
        .order_by(DuesEntry.id.desc())
        .limit(1)
    )
    if entry is None:
        return False
    session.add(
        DuesEntry(
            member_id=member_id,
            unit_id=entry.unit_id,
            month=month,
            kind=DuesEntryKind.REVERSAL.value,
            amount_fen=-entry.amount_fen,
            paid_on=None,
            source=rec.source,
            note=rec.note[:200],
            reverses_id=entry.id,
            recorded_by=rec.by,
            created_at=rec.now,
        )
    )
    session.flush()
    return True


# --- bases, reductions, branch rates -------------------------------------------------------------------


def declare_base(
    session: Session,
    member_id: int,
    base_fen: int,
    now: datetime,
    *,
    by: int | None,
    source: str,
    timezone: str,
) -> str:
    """A declared base (党费基数): it applies from the next month (or this month when none was ever known).
    Returns the month it applies from."""
    month = local_month(now, timezone)
    member = session.get(Member, member_id)
    known = member is not None and member.dues_base_fen is not None
    known = (
        known
        or session.scalar(select(DuesBase.id).where(DuesBase.member_id == member_id).limit(1)) is not None
    )
    valid_from = add_months(month, 1) if known else month
    session.add(
        DuesBase(
            member_id=member_id,
            base_fen=base_fen,
            valid_from=valid_from,
            source=source,
            set_by=by,
            created_at=now,
        )
    )
    session.flush()
    return valid_from


def roster_base_changed(
    session: Session, member_id: int, old_fen: int | None, new_fen: int | None, now: datetime, timezone: str
) -> None:
    """A re-imported roster changes a member's 党费基数: the months before keep the old base (kept as a
    DuesBase row from the beginning when the roster's was the only one), the new one applies from the next
    month, like a base declared in chat. A base newly given where there was none applies everywhere."""
    if old_fen == new_fen or new_fen is None:
        return
    has_rows = session.scalar(select(DuesBase.id).where(DuesBase.member_id == member_id).limit(1)) is not None
    if old_fen is None and not has_rows:
        return
    if not has_rows:
        session.add(
            DuesBase(
                member_id=member_id, base_fen=old_fen, valid_from="2000-01", source="roster", created_at=now
            )
        )
    valid_from = add_months(local_month(now, timezone), 1)
    session.add(
        DuesBase(
            member_id=member_id, base_fen=new_fen, valid_from=valid_from, source="roster", created_at=now
        )
    )
    session.flush()


def base_dates(session: Session, member_ids: Sequence[int]) -> dict[int, datetime]:
    """When each member's base was last declared or confirmed: their latest DuesBase, else (a base from the
    roster only) when their roster entry was made."""
    ids = list(member_ids)
    found = {
        int(m): at
        for m, at in session.execute(select(Member.id, Member.created_at).where(Member.id.in_(ids)))
    }
    for m, at in session.execute(
        select(DuesBase.member_id, func.max(DuesBase.created_at))
        .where(DuesBase.member_id.in_(ids))
        .group_by(DuesBase.member_id)
    ).all():
        if at is not None:
            found[int(m)] = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return found


def add_adjustment(
    session: Session,
    member_id: int,
    months: Sequence[str],
    amount_fen: int,
    ref: str,
    *,
    by: int | None,
    now: datetime,
) -> None:
    """A reduction (the monthly amount) or a waiver (0) for months, with the approval reference."""
    session.add(
        DuesAdjustment(
            member_id=member_id,
            first_month=min(months),
            last_month=max(months),
            amount_fen=amount_fen,
            approval_ref=ref[:100],
            set_by=by,
            created_at=now,
        )
    )
    session.flush()


def branch_range(kind: str, month: str) -> Range | None:
    return standard_for(month).branch_set.get(kind)


def set_unit_rate(
    session: Session,
    unit_id: int,
    kind: str,
    amount_fen: int,
    now: datetime,
    *,
    by: int | None,
    timezone: str,
) -> str:
    """The branch's monthly amount for a kind (农民), from the next month. Returns that month."""
    valid_from = add_months(local_month(now, timezone), 1)
    session.add(
        DuesUnitRate(
            unit_id=unit_id,
            kind=kind,
            amount_fen=amount_fen,
            valid_from=valid_from,
            set_by=by,
            created_at=now,
        )
    )
    session.flush()
    return valid_from


# --- 已交: members' own reports --------------------------------------------------------------------------


def claim(session: Session, member_id: int, unit_id: int, months: Sequence[str], now: datetime) -> DuesClaim:
    found = DuesClaim(
        member_id=member_id, unit_id=unit_id, first_month=min(months), last_month=max(months), created_at=now
    )
    session.add(found)
    session.flush()
    return found


def pending_claims(session: Session, member_id: int) -> list[DuesClaim]:
    return list(
        session.scalars(
            select(DuesClaim)
            .where(DuesClaim.member_id == member_id, DuesClaim.status == "pending")
            .order_by(DuesClaim.id)
        )
    )


def confirm_claims(session: Session, member_id: int, rec: Recorder) -> tuple[list[str], Paid | None]:
    """The secretary confirms the member's pending 已交: their months are recorded paid (each at what it
    costs). Returns the months claimed and what was recorded (None: nothing pending)."""
    claims = pending_claims(session, member_id)
    if not claims:
        return [], None
    months = sorted({m for c in claims for m in months_between(c.first_month, c.last_month)})
    paid = pay_months(session, member_id, months, rec)
    if paid.refusal is None or paid.refusal == Refusal.ALL_PAID:
        for c in claims:
            c.status, c.decided_by, c.decided_at = "confirmed", rec.by, rec.now
        session.flush()
    return months, paid


def return_claims(
    session: Session, member_id: int, reason: str, *, by: int | None, now: datetime
) -> list[str]:
    """The secretary returns the member's pending 已交 with a reason. Returns the months returned."""
    months: list[str] = []
    for c in pending_claims(session, member_id):
        c.status, c.reason, c.decided_by, c.decided_at = "returned", reason[:200], by, now
        months.extend(months_between(c.first_month, c.last_month))
    session.flush()
    return months


# --- whom a secretary means ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    member_id: int | None = None
    name: str = ""
    number: str = ""
    unit_id: int = 0
    many: list[str] = field(default_factory=list)  # several members of that name in the scope: their numbers
    outside: bool = False  # nobody of that name in the scope, but someone elsewhere


def resolve_member(session: Session, scope_path: str, name: str, number: str | None = None) -> Resolved:
    """A member of the secretary's subtree by name (and 编号 when several share it), as `补签 王秀兰` does."""
    from bot.domain.binding import in_scope
    from models import OrgUnit

    query = (
        select(Member.id, Member.number, Member.unit_id)
        .join(OrgUnit, OrgUnit.id == Member.unit_id)
        .where(Member.name == name, Member.active.is_(True))
    )
    if number:
        query = query.where(Member.number == number)
    found = session.execute(query.where(in_scope(scope_path)).order_by(Member.number)).all()
    if len(found) == 1:
        return Resolved(int(found[0][0]), name, str(found[0][1]), int(found[0][2]))
    if found:
        return Resolved(name=name, many=[str(n) for _, n, _ in found])
    elsewhere = session.scalar(query.limit(1))
    return Resolved(name=name, outside=elsewhere is not None)
