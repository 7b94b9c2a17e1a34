from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class OutboxStatus(StrEnum):
    # A late answer whose handler is still running: the inbound message is stored so the answer
    # can be produced again if the process dies before the handler finishes.
    AWAITING_ANSWER = "awaiting-answer"
    QUEUED = "queued"
    SENT = "sent"
    WAITING_NEXT_REPLY = "waiting-next-reply"
    RELAYED = "relayed"
    FAILED = "failed"
    IN_DOUBT = "in-doubt"
    # Claimed by a worker, API call in flight (committed before the call: at most once).
    SENDING = "sending"
    # The late handler finished without anything to say.
    NO_ANSWER = "no-answer"


class OutboxRow(Base):
    """Outbound work: one row per recipient per notice, the single source of truth for delivery."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # None: a member not bound to WeChat (reached only through their helper).
    openid: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    # late_reply (an answer past the budget), notice (one recipient of a Notice), relay (a helper asked
    # to pass a notice on), voice (a notice's clips, following the text when the window opens).
    kind: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None, index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), default=None, index=True)
    wants_voice: Mapped[bool] = mapped_column(default=False)
    voice_clips_sent: Mapped[int] = mapped_column(default=0)
    # Mass sends: the clientmsgid of the batch this row went out in (safe to retry with the same id).
    mass_batch: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    # Channels that refused this recipient (43004/45015/45047/...): the next attempt falls through.
    closed_channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    relay_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    relay_confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    channel: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    wechat_msgid: Mapped[str | None] = mapped_column(String(64), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Lease(Base):
    """A named lease held by one process at a time (the scheduler's: exactly one across processes)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class EarlyJobReport(Base):
    """A TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH that arrived before the send it reports on was written
    (the worker stores WeChat's msgid after the API call returns; under load the report can win the race).
    Applied by the worker when it writes that msgid; housekeeping drops ones never matched."""

    __tablename__ = "early_job_reports"

    msgid: Mapped[str] = mapped_column(String(64), primary_key=True)
    event: Mapped[str] = mapped_column(String(32))  # "template" or "mass"
    status: Mapped[str] = mapped_column(String(100), default="")
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(index=True)
