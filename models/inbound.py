from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class InboundLog(Base):
    """What users sent and how partybot routed it. Written behind in batches, never on the hot path."""

    __tablename__ = "inbound_log"
    __table_args__ = (Index("ix_inbound_log_openid_received", "openid", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    openid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(64), default=None)
    content: Mapped[str | None] = mapped_column(Text, default=None)
    route: Mapped[str | None] = mapped_column(String(100), default=None)
    duration_ms: Mapped[int | None] = mapped_column(default=None)
    late: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime]
