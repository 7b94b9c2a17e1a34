"""The secretaries' web console (bot/console): login codes sent in chat, browser sessions, admin passwords
and their lockout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class ConsoleLoginCode(Base):
    """A login page's short code (`登录 4821` in chat). `nonce_hash`: sha256 of the nonce kept in the browser
    session that asked for it, so only that session is logged in. `openid`/`confirmed_at`: the staff member
    who sent it; `consumed_at`: when the page took the login (single use)."""

    __tablename__ = "console_login_codes"
    __table_args__ = (Index("ix_console_login_codes_code_expires_at", "code", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(8))
    nonce_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    openid: Mapped[str | None] = mapped_column(String(64), default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    consumed_at: Mapped[datetime | None] = mapped_column(default=None)


class ConsoleSession(Base):
    """A browser session of the console, kept server-side: `id` is sha256 of the cookie's random token (a
    database dump logs nobody in); `data`: the CSRF token, the pending login nonce, who is logged in."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime] = mapped_column(index=True)


class ConsolePassword(Base):
    """An administrator's console password (`partybot console passwd NAME`), an argon2id hash."""

    __tablename__ = "console_passwords"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id"), unique=True)
    hash: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime]


class ConsoleLockout(Base):
    """Failed password attempts by login name (names nobody has count too, so a lockout reveals nothing):
    five lock the name until `locked_until`."""

    __tablename__ = "console_lockouts"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]
