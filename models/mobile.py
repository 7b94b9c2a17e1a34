"""Mobile members (流动党员): the outgoing register (流出: who is away, where, their contact person, their
separate consents to location use), their monthly report-ins, and the incoming register (流入: members of
another place who live or work here and ask to join this community's organisation life as guests)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class MobileRegistration(Base):
    """流出登记 of one member. A member whose roster entry says 流动 or has a 流动去向 is mobile without a
    row; the row is written when a secretary registers them (`流动登记`), names a contact person, or when
    the member answers a consent question. `contact_id` None: the branch secretary is the contact.
    `ended_at`: the registration was ended (`流动结束`). Consents (PIPL, separate): None not asked yet."""

    __tablename__ = "mobile_registrations"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    destination: Mapped[str | None] = mapped_column(String(100), default=None)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    registered_by: Mapped[str | None] = mapped_column(String(100), default=None)
    registered_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    location_consent: Mapped[bool | None] = mapped_column(default=None)
    precise_consent: Mapped[bool | None] = mapped_column(default=None)
    consent_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]


class MobileReport(Base):
    """A member's report-in of a month (YYYY-MM, local time): one row per member and month, a later message
    in the month adds to it. `place`: province/city/district only (from WeChat's label of a location the
    member consented to share); `latitude`/`longitude`: only with the second consent, cleared after
    `precise_until`."""

    __tablename__ = "mobile_reports"
    __table_args__ = (UniqueConstraint("member_id", "month", name="uq_mobile_reports_member_month"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    text: Mapped[str] = mapped_column(String(200), default="")
    place: Mapped[str] = mapped_column(String(100), default="")
    latitude: Mapped[float | None] = mapped_column(default=None)
    longitude: Mapped[float | None] = mapped_column(default=None)
    precise_until: Mapped[datetime | None] = mapped_column(default=None, index=True)
    reported_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IncomingMember(Base):
    """流入登记: a member of another place's organisation who lives or works here. `status`: pending,
    confirmed (a guest Member row, kind 流入, is made and bound to the openid: `member_id`), returned (with
    `reason`). The phone is encrypted (bot.domain.privacy)."""

    __tablename__ = "mobile_incoming"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(50))
    phone_enc: Mapped[str | None] = mapped_column(String(500), default=None)
    home_org: Mapped[str] = mapped_column(String(100))  # 原党组织
    place: Mapped[str] = mapped_column(String(100))  # building/door or workplace here
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True, default=None)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(String(200), default=None)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
