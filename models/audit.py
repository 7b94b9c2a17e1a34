"""The append-only audit log of staff reading or exporting people's data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


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
