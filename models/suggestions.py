"""Members' suggestions (党员资政 / 智慧问政): a bound member's `建议 …`, numbered `S20261201-0003`, answered
by their branch secretary."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Suggestion(Base):
    """One suggestion. `number`: S + local date + the day's sequence (`S20261201-0003`). `unit_id`: the
    branch (网格党支部) it goes to. `status`: open, answered. `answer`/`answered_by`/`answered_at`: the
    secretary's `答复`."""

    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    answer: Mapped[str | None] = mapped_column(Text, default=None)
    answered_by: Mapped[str | None] = mapped_column(String(100), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
