"""The organisation tree, the member ledger (党员台账), staff, and their WeChat bindings."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class UnitKind(StrEnum):
    STREET = "街道党工委"
    COMMUNITY = "社区党委"
    BRANCH = "网格党支部"
    GROUP = "楼栋党小组"
    HOUSEHOLD = "党员中心户"


class OrgUnit(Base):
    """A unit of the tree at any depth: 街道党工委 → 社区党委 → 网格党支部 → 楼栋党小组 → 党员中心户."""

    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String(500), unique=True)  # levels joined by "/"
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), default=None)
    depth: Mapped[int] = mapped_column(default=0)
    theme_day_rule: Mapped[str | None] = mapped_column(String(50), default=None)  # 主题党日, e.g. 每月25日
    buildings: Mapped[list[str]] = mapped_column(JSON, default=list)  # 覆盖楼栋
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Member(Base):
    """党员: one roster entry. No national ID numbers; the phone is encrypted (bot.domain.privacy)."""

    __tablename__ = "members"
    __table_args__ = (Index("ix_members_unit_name", "unit_id", "name"),)

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
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


def voice_on(member: Member, this_year: int) -> bool:
    """Voice pushes: the member's own choice, else the roster's, else by age (70 or more: DOMAIN.md)."""
    if member.voice_mode is not None:
        return member.voice_mode
    return member.birth_year is not None and this_year - member.birth_year >= 70


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


class Binding(Base):
    """One openid ↔ one person (a member, or a staff member, or both when a grid worker is a member)."""

    __tablename__ = "bindings"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), unique=True, default=None)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), unique=True, default=None)
    method: Mapped[str] = mapped_column(String(20))  # code, qr, approval, demo
    bound_at: Mapped[datetime]


class BindingCode(Base):
    """A one-time 6-digit code (stored as an HMAC, never readable), valid 7 days, single use."""

    __tablename__ = "binding_codes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code_mac: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class QRBindingToken(Base):
    """The opaque single-use scene of a personal parametric QR code (never the member number)."""

    __tablename__ = "qr_binding_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    token_mac: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
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


class VolunteerPost(Base):
    """设岗定责: a volunteer post members choose (义务巡逻岗, 矛盾调解岗, ...)."""

    __tablename__ = "volunteer_posts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    area: Mapped[str | None] = mapped_column(String(100), default=None)  # 党员责任区


class DualReport(Base):
    """双报到: an in-service member of a workplace branch registers with the community where they live."""

    __tablename__ = "dual_reports"
    __table_args__ = (UniqueConstraint("openid", name="uq_dual_reports_openid"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    openid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(50))
    phone_enc: Mapped[str | None] = mapped_column(Text, default=None)
    workplace_org: Mapped[str] = mapped_column(String(200))
    building: Mapped[str] = mapped_column(String(50))
    door: Mapped[str] = mapped_column(String(50))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), default=None)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, confirmed, rejected
    volunteer_posts: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    confirmed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """Append-only: every read or export of people's data by staff (kept at least 6 months)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))  # "openid:<hash>", "member:YX-002", "cli:<user>"
    action: Mapped[str] = mapped_column(String(50))  # list_members, my_info, export_service_report, ...
    scope: Mapped[str | None] = mapped_column(String(500), default=None)  # unit path or member number
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Building(Base):
    """楼栋: where residents and members live; the grid covering it (覆盖楼栋) handles its matters."""

    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), default=None)


class Door(Base):
    """单元/门牌 within a building, as the roster and registrations spell it."""

    __tablename__ = "doors"
    __table_args__ = (UniqueConstraint("building_id", "name", name="uq_doors_building_name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
