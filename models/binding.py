"""WeChat bindings (one openid ↔ one person) and the ways to make one: one-time codes, personal QR tokens,
name + phone-tail requests, and the attempts counted against abuse."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Binding(Base):
    """One openid ↔ one person (a member, or a staff member, or both when a grid worker is a member)."""

    __tablename__ = "bindings"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), unique=True, default=None)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), unique=True, default=None)
    method: Mapped[str] = mapped_column(String(20))  # code, qr, approval, demo
    bound_at: Mapped[datetime]


class BindingCode(Base):
    """A one-time 6-digit code (stored as an HMAC, never readable), valid 7 days, single use, for a member or
    a grid worker."""

    __tablename__ = "binding_codes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code_mac: Mapped[str] = mapped_column(String(64), unique=True)
    # Whom it binds: a member or a staff member (网格员), exactly one of the two.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True, default=None)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True, default=None)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class QRBindingToken(Base):
    """The opaque single-use scene of a personal parametric QR code (never the member's or staff number)."""

    __tablename__ = "qr_binding_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    token_mac: Mapped[str] = mapped_column(String(64), unique=True)
    # Whom it binds: a member or a staff member (网格员), exactly one of the two.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True, default=None)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True, default=None)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class BindingRequest(Base):
    """`绑定 姓名 手机后四位`: waits for the member's secretary (待审 / 同意 / 拒绝)."""

    __tablename__ = "binding_requests"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, approved, rejected
    created_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)


class BindingAttempt(Base):
    """A failed binding attempt, for the limit of 5 per openid per hour (shared by all processes)."""

    __tablename__ = "binding_attempts"
    __table_args__ = (Index("ix_binding_attempts_openid_at", "openid", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    openid: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
