"""The log of changes to who someone is, written by database triggers (models/identity_triggers.py) on the
tables an identity is made of, by whichever process made the change: a server, a worker, a CLI import."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class IdentityChange(Base):
    """One change: the openid whose identity may differ now, or NULL when any may (the tree changed)."""

    __tablename__ = "identity_changes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    openid: Mapped[str | None] = mapped_column(String(64), default=None)
    at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
