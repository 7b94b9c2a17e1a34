"""双报到: in-service members registering with the community where they live."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


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
