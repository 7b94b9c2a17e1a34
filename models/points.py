"""积分: the points ledger, one row per award (content/points.yaml says how many points each reason earns)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class PointEntry(Base):
    """One award: who, how many points, why (a reason code: study, theme_day_sign_in, make_up, ...), and the
    thing it was for as a unique `key` (`study:{material}:{member}`, `theme_day:{event}:{member}:sign_in`):
    the same thing never earns twice. `unit_id` is the member's unit at the time."""

    __tablename__ = "point_entries"
    __table_args__ = (Index("ix_point_entries_member_at", "member_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), default=None, index=True)
    at: Mapped[datetime] = mapped_column(index=True)
