"""Organisation life (三会一课 and the monthly 主题党日): an event of a unit, who was invited and what they
answered, the sign-in code, who attended (and how), and the record kept afterwards (组织生活纪实) with its
photos."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class EventKind(StrEnum):
    THEME_DAY = "theme_day"  # 主题党日: scheduled by itself, one a month per branch
    COMMITTEE = "committee"  # 支部委员会
    GROUP = "group"  # 党小组会
    GENERAL = "general"  # 支部党员大会
    LECTURE = "lecture"  # 党课


class EventStatus(StrEnum):
    PLANNED = "planned"
    CLOSED = "closed"  # the sign-in window is over: summary sent, 补学 sent
    CANCELLED = "cancelled"


class Event(Base):
    """One meeting of a unit. A theme day has `key` `theme_day:{unit}:{YYYY-MM}` (one a month); its date
    comes from the unit's rule unless the secretary moved it (`date_fixed`)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_updated_at", "updated_at"),)  # the console dashboard's fingerprint

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str | None] = mapped_column(String(100), unique=True, default=None)
    kind: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM the event belongs to
    planned_date: Mapped[date | None] = mapped_column(Date, default=None)  # the rule's day before a move
    moved_for: Mapped[str | None] = mapped_column(String(50), default=None)  # the holiday it moved for
    date_fixed: Mapped[bool] = mapped_column(default=False)  # set by a secretary: not recomputed
    starts_at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")  # the material: for the notice and for 补学
    place: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default=EventStatus.PLANNED.value, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Invitation(Base):
    """A member invited to an event, and their answer: `yes` (参加), `leave` (请假, with a reason) or none.
    `made_up_at`: when an absent member confirmed 补学 (已学)."""

    __tablename__ = "event_invitations"
    __table_args__ = (UniqueConstraint("event_id", "member_id", name="uq_event_invitations_event_member"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    answer: Mapped[str | None] = mapped_column(String(10), default=None)
    reason: Mapped[str | None] = mapped_column(String(200), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    make_up_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    made_up_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]


class SignInCode(Base):
    """An event's 4-digit sign-in code, stored hashed. Codes of events open at the same time differ, so a
    code names its event (a member who sends another branch's code is told so)."""

    __tablename__ = "event_sign_in_codes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    created_at: Mapped[datetime]


class Attendance(Base):
    """A member present at an event: `how` is code, qr, or manual (补签 by the secretary)."""

    __tablename__ = "event_attendance"
    __table_args__ = (UniqueConstraint("event_id", "member_id", name="uq_event_attendance_event_member"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    how: Mapped[str] = mapped_column(String(10))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    at: Mapped[datetime]


class EventRecord(Base):
    """组织生活纪实: what happened, kept by the secretary after the event."""

    __tablename__ = "event_records"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), unique=True)
    text: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EventPhoto(Base):
    """A photo of a record: WeChat's media id until it is downloaded (within WeChat's 3 days) into the data
    folder, then the file's path relative to it."""

    __tablename__ = "event_photos"
    __table_args__ = (UniqueConstraint("event_id", "seq", name="uq_event_photos_event_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    seq: Mapped[int]
    media_id: Mapped[str] = mapped_column(String(200))
    path: Mapped[str | None] = mapped_column(String(300), default=None)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, stored, expired
    created_at: Mapped[datetime]
    stored_at: Mapped[datetime | None] = mapped_column(default=None)
