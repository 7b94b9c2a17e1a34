"""Conversation state: the user's active multi-step conversation (what a handler changes) and the store
that loads and saves it, one row per openid, with an expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import ConversationState
from models.db import Database, dialect_insert


class Conversation:
    """The user's active multi-step conversation; handlers change it, the dispatcher persists it."""

    def __init__(self, name: str | None, data: dict[str, Any], expires_at: datetime | None) -> None:
        self.name, self.data, self.expires_at = name, dict(data), expires_at
        self.changed = False

    @property
    def active(self) -> bool:
        return self.name is not None

    def enter(self, name: str, now: datetime, ttl_s: float, **data: Any) -> None:
        self.name, self.data, self.expires_at = name, dict(data), now + timedelta(seconds=ttl_s)
        self.changed = True

    def update(self, now: datetime, ttl_s: float, **data: Any) -> None:
        if self.name is None:
            raise RuntimeError("no active conversation to update")
        self.data.update(data)
        self.expires_at = now + timedelta(seconds=ttl_s)
        self.changed = True

    def clear(self) -> None:
        if self.name is not None:
            self.name, self.data, self.expires_at = None, {}, None
            self.changed = True


class Conversations:
    """Conversation state, one row per openid, with an expiry.

    Embedded mode (one process): this process is the only writer, so the active conversations are loaded
    once at start and kept in memory, written through on every change; a message that changes nothing
    reads nothing from the database. With several processes (Redis set) every load reads the database.
    """

    def __init__(self, db: Database, shared: bool) -> None:
        self._db, self._shared = db, shared
        self._active: dict[str, ConversationState] = {}

    async def load_all(self, now: datetime) -> None:
        if self._shared:
            return
        async with self._db.read() as session:
            rows = (
                await session.scalars(select(ConversationState).where(ConversationState.expires_at > now))
            ).all()
            for row in rows:
                session.expunge(row)
        self._active = {row.openid: row for row in rows}

    async def load(self, openid: str, now: datetime) -> Conversation:
        if self._shared:
            async with self._db.read() as session:
                row = await session.get(ConversationState, openid)
        else:
            row = self._active.get(openid)
        if row is None or row.expires_at <= now:
            if row is not None and not self._shared:
                del self._active[openid]
            return Conversation(None, {}, None)
        return Conversation(row.name, row.data, row.expires_at)

    def forget(self, openid: str) -> None:
        self._active.pop(openid, None)

    async def save(self, openid: str, conversation: Conversation, now: datetime) -> None:
        row: ConversationState | None = None
        if conversation.name is not None and conversation.expires_at is not None:
            row = ConversationState(
                openid=openid,
                name=conversation.name,
                data=dict(conversation.data),
                expires_at=conversation.expires_at,
                updated_at=now,
            )

        def write(session: Session) -> None:
            if row is None:
                session.execute(delete(ConversationState).where(ConversationState.openid == openid))
                return
            values = {
                "openid": openid,
                "name": row.name,
                "data": row.data,
                "expires_at": row.expires_at,
                "updated_at": row.updated_at,
            }
            # One statement (an upsert), not a read of the old state and then a write.
            session.execute(
                dialect_insert(session)(ConversationState)
                .values(**values)
                .on_conflict_do_update(
                    index_elements=["openid"], set_={k: v for k, v in values.items() if k != "openid"}
                )
            )

        await self._db.run(write)
        if self._shared:
            return
        if row is None:
            self._active.pop(openid, None)
        else:
            self._active[openid] = row
