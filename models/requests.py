"""Residents' requests (居民诉求): tickets from report to rated close, each ticket's whole history, its
photos, the reporters' ratings, and the links of duplicate tickets (the 24-hour merge)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class RequestTicket(Base):
    """One resident's report. `number`: R + local date + the day's sequence (`R20261201-0007`).
    `unit_id`: who owns it (首接: the grid covering the building, else the community; changed only by 转派).
    `state`: new (待接单), taken (办理中), solved (待评价), closed (已办结/已关闭). `outcome`: the reporter's
    latest rating (satisfied, basic, unsatisfied) or unrated (closed without one). `primary_id`: the open
    ticket this one was linked to (same category and building within 24 h); the group is handled through
    the primary. `filed_month`: YYYY-MM of filing, local time (the rates). `take_step`/`solve_step`/
    `rate_step`: how many of the deadline job's steps were done; `next_step_at`: when the next one is due
    (None: nothing left for the job). The phone is encrypted (bot.domain.privacy)."""

    __tablename__ = "request_tickets"
    __table_args__ = (
        Index("ix_request_tickets_state_next_step", "state", "next_step_at"),
        Index("ix_request_tickets_state_take_due", "state", "take_due"),
        Index("ix_request_tickets_state_solve_due", "state", "solve_due"),
        Index("ix_request_tickets_month_unit", "filed_month", "unit_id"),
        Index("ix_request_tickets_unit_state", "unit_id", "state"),
        Index("ix_request_tickets_building_category", "building_id", "category", "filed_at"),
        Index("ix_request_tickets_reporter", "reporter_openid", "filed_at"),
        Index("ix_request_tickets_updated_at", "updated_at"),  # the console dashboard's fingerprint
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    reporter_openid: Mapped[str] = mapped_column(String(64))
    reporter_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    reporter_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    reporter_name: Mapped[str | None] = mapped_column(String(50), default=None)
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(10))
    urgent: Mapped[bool] = mapped_column(default=False)
    complex: Mapped[bool] = mapped_column(default=False)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"), default=None)
    door: Mapped[str | None] = mapped_column(String(50), default=None)
    place: Mapped[str] = mapped_column(String(100), default="")
    phone_enc: Mapped[str | None] = mapped_column(Text, default=None)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    state: Mapped[str] = mapped_column(String(10), default="new")
    taken_by_openid: Mapped[str | None] = mapped_column(String(64), default=None)
    taken_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    taken_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    taken_by_name: Mapped[str | None] = mapped_column(String(50), default=None)
    taken_at: Mapped[datetime | None] = mapped_column(default=None)
    take_due: Mapped[datetime]
    solve_due: Mapped[datetime]
    solved_at: Mapped[datetime | None] = mapped_column(default=None)  # the latest 办结
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    reopen_count: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str | None] = mapped_column(String(12), default=None)
    source: Mapped[str] = mapped_column(String(10), default="text")  # text, voice
    primary_id: Mapped[int | None] = mapped_column(ForeignKey("request_tickets.id"), index=True, default=None)
    take_step: Mapped[int] = mapped_column(default=0)
    solve_step: Mapped[int] = mapped_column(default=0)
    rate_step: Mapped[int] = mapped_column(default=0)
    next_step_at: Mapped[datetime | None] = mapped_column(default=None)
    filed_at: Mapped[datetime]
    filed_month: Mapped[str] = mapped_column(String(7))
    updated_at: Mapped[datetime]


class RequestEvent(Base):
    """A ticket's history, one row per step: filed, taken, progress, transferred, complex, solved, rated,
    reopened, reminded, escalated, closed, merged. `actor`: an audit-style label (bot.domain.audit.actor_for,
    or `job:request_deadlines`); `actor_name`: the name shown."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("request_tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(100), default="")
    actor_name: Mapped[str | None] = mapped_column(String(50), default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class RequestPhoto(Base):
    """A photo of a ticket: WeChat's media id until it is downloaded (within WeChat's 3 days) into the data
    folder, then the file's path relative to it; the file is deleted after the retention setting
    (`status` deleted)."""

    __tablename__ = "request_photos"
    __table_args__ = (UniqueConstraint("ticket_id", "seq", name="uq_request_photos_ticket_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("request_tickets.id"), index=True)
    seq: Mapped[int]
    media_id: Mapped[str] = mapped_column(String(200))
    path: Mapped[str | None] = mapped_column(String(300), default=None)
    status: Mapped[str] = mapped_column(
        String(10), default="pending", index=True
    )  # pending, stored, expired, deleted
    created_at: Mapped[datetime]
    stored_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class RequestRating(Base):
    """A reporter's rating of their ticket in a round (1: after the first 办结, 2: after a reopen):
    1 满意, 2 基本满意, 3 不满意, with their words; changeable within 12 hours (`updated_at`)."""

    __tablename__ = "request_ratings"
    __table_args__ = (
        UniqueConstraint("ticket_id", "openid", "round", name="uq_request_ratings_ticket_openid_round"),
        Index("ix_request_ratings_updated_at", "updated_at"),  # the console dashboard's fingerprint
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("request_tickets.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    round: Mapped[int] = mapped_column(default=1)
    rating: Mapped[int]
    words: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RequestLink(Base):
    """A duplicate ticket linked to the open primary ticket of its group (same category, same building,
    within 24 hours, another reporter)."""

    __tablename__ = "request_links"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    primary_id: Mapped[int] = mapped_column(ForeignKey("request_tickets.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("request_tickets.id"), unique=True)
    linked_at: Mapped[datetime]
