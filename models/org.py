"""The organisation tree (街道党工委 → 社区党委 → 网格党支部 → 楼栋党小组 → 党员中心户) and the buildings
and doors its units cover."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
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
