"""党费: declared bases, the append-only ledger of payments (and reversals, credit), members' own 已交
reports waiting for the secretary, reductions and waivers, and the branch's rate for farmers."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class DuesEntryKind(StrEnum):
    PAYMENT = "payment"  # a month paid (amount_fen: what was paid for it)
    REVERSAL = "reversal"  # cancels the entry `reverses_id` (amount_fen negated)
    CREDIT = "credit"  # money kept beyond the months paid (month is None); negative when used


class DuesBase(Base):
    """A declared base (党费基数), in fen, applying from `valid_from` (YYYY-MM). The latest row whose
    valid_from is not after a month is that month's base. `source`: roster, member, secretary."""

    __tablename__ = "dues_bases"
    __table_args__ = (Index("ix_dues_bases_member_valid_from", "member_id", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    base_fen: Mapped[int]
    valid_from: Mapped[str] = mapped_column(String(7))
    source: Mapped[str] = mapped_column(String(10))
    set_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    created_at: Mapped[datetime]


class DuesEntry(Base):
    """One ledger row; never updated nor deleted. A correction is a REVERSAL row pointing at the entry."""

    __tablename__ = "dues_entries"
    __table_args__ = (
        Index("ix_dues_entries_member_month", "member_id", "month"),
        # Which payments are reversed: reversals are few, so a partial index on them stays small.
        Index(
            "ix_dues_entries_reverses_id",
            "reverses_id",
            sqlite_where=text("reverses_id IS NOT NULL"),
            postgresql_where=text("reverses_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), default=None, index=True)
    month: Mapped[str | None] = mapped_column(String(7), default=None, index=True)
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int]
    paid_on: Mapped[date | None] = mapped_column(Date, default=None)
    source: Mapped[str] = mapped_column(String(10))  # chat, import, claim, credit, demo
    note: Mapped[str] = mapped_column(String(200), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("dues_entries.id"), default=None)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    created_at: Mapped[datetime]


class DuesClaim(Base):
    """A member's `已交 2026-11`: pending until a secretary confirms (ledger rows) or returns it."""

    __tablename__ = "dues_claims"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    first_month: Mapped[str] = mapped_column(String(7))
    last_month: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)  # confirmed, returned
    reason: Mapped[str | None] = mapped_column(String(200), default=None)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]


class DuesAdjustment(Base):
    """A reduction (monthly amount_fen) or waiver (amount_fen 0) for months first..last, approved by the
    level above (`approval_ref`), recorded by a secretary."""

    __tablename__ = "dues_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    first_month: Mapped[str] = mapped_column(String(7))
    last_month: Mapped[str] = mapped_column(String(7))
    amount_fen: Mapped[int]
    approval_ref: Mapped[str] = mapped_column(String(100))
    set_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    created_at: Mapped[datetime]


class DuesUnitRate(Base):
    """A branch's monthly amount for a fixed-amount kind (农民: 0.20–1.00 yuan), from `valid_from`."""

    __tablename__ = "dues_unit_rates"
    __table_args__ = (Index("ix_dues_unit_rates_unit_kind", "unit_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int]
    valid_from: Mapped[str] = mapped_column(String(7))
    set_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    created_at: Mapped[datetime]
