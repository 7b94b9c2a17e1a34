from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class ConversationState(Base):
    """A user's active multi-step conversation (one per openid), with an expiry."""

    __tablename__ = "conversation_state"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime]
    updated_at: Mapped[datetime]
