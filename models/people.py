"""People on the rolls: the member ledger (党员台账), community staff (网格员), admins, and members'
volunteer posts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Member(Base):
    """党员: one roster entry. No national ID numbers; the phone is encrypted (bot.domain.privacy)."""

    __tablename__ = "members"
    # ix_members_updated_at: the console dashboard's fingerprint of what its cached figures are made of.
    __table_args__ = (
        Index("ix_members_unit_name", "unit_id", "name"),
        Index("ix_members_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(50), unique=True)  # 编号
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[str | None] = mapped_column(String(4), default=None)
    birth_year: Mapped[int | None] = mapped_column(default=None)
    birth_month: Mapped[int | None] = mapped_column(default=None)
    phone_enc: Mapped[str | None] = mapped_column(Text, default=None)
    # HMAC of the last four digits, for `绑定 姓名 手机后四位` without storing them readably.
    phone_tail_mac: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(4))  # 正式 / 预备
    joined_on: Mapped[date | None] = mapped_column(default=None)
    kind: Mapped[str] = mapped_column(String(10))  # 在职, 离退休, 流动, 两新, 学生, 无业, 农民
    post: Mapped[str | None] = mapped_column(String(10), default=None)  # 书记, 副书记, 委员, 组长
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    building: Mapped[str | None] = mapped_column(String(50), default=None)
    door: Mapped[str | None] = mapped_column(String(50), default=None)
    specialty: Mapped[str | None] = mapped_column(String(100), default=None)
    volunteer_posts: Mapped[list[str]] = mapped_column(JSON, default=list)
    # 是/否 from the roster, or set by the member in chat; None: decided by age (70+).
    voice_mode: Mapped[bool | None] = mapped_column(default=None)
    # Which of the member's preferences they set themselves in chat: a re-import keeps those.
    chat_preferences: Mapped[list[str]] = mapped_column(JSON, default=list)
    helper_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    # Consent to keep unrecognised voice messages for the secretary (PIPL: separate consent); None: not asked.
    voice_keep_consent: Mapped[bool | None] = mapped_column(default=None)
    dues_base_fen: Mapped[int | None] = mapped_column(default=None)
    mobile_destination: Mapped[str | None] = mapped_column(String(100), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    # Indexed: the dues start month defaults to the month of the first roster import (the earliest row).
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]


class Staff(Base):
    """Community staff who are not (necessarily) members: 网格员."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    phone_enc: Mapped[str | None] = mapped_column(Text, default=None)
    phone_tail_mac: Mapped[str | None] = mapped_column(String(64), default=None)
    role: Mapped[str] = mapped_column(String(10))  # 网格员
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Admin(Base):
    """An administrator (`partybot admin add`): everything, all units."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(50))
    openid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    created_at: Mapped[datetime]


class VolunteerPost(Base):
    """设岗定责: a volunteer post members choose (义务巡逻岗, 矛盾调解岗, ...)."""

    __tablename__ = "volunteer_posts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    area: Mapped[str | None] = mapped_column(String(100), default=None)  # 党员责任区
