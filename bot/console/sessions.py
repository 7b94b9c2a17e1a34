"""The console's sessions: aiohttp-session with a storage of our own, kept in the database.

The cookie holds only a random token; the row's key is its sha256 (`console_sessions`), so a session ends
for good on `退出` or after IDLE of inactivity, in every process, and a dump of the table logs nobody in.
Idle time is measured with the app's clock (FixedClock in tests). Logging in starts a new session (`rotate`):
the old row is deleted and a new token issued, so an identifier planted before login is worth nothing.

Cookie: HttpOnly, SameSite=Lax, path /console, no Max-Age (gone with the browser); Secure when the request
came over TLS or PARTYBOT_CONSOLE_SECURE_COOKIES is set (behind a TLS-terminating proxy)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, get_session, new_session
from sqlalchemy import delete
from sqlalchemy.orm import Session as DbSession

from bot.clock import Clock
from models import ConsoleSession
from models.db import Database

COOKIE = "partybot_console"
IDLE = timedelta(minutes=30)
# The row's seen_at is written at most this often (a polling login page would otherwise write every 2 s).
TOUCH_EVERY = timedelta(seconds=30)
# Set on a request whose cookie named a session that had ended (the login page says why).
EXPIRED: web.RequestKey[bool] = web.RequestKey("console_session_expired", bool)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DatabaseStorage(AbstractStorage):
    def __init__(
        self,
        db: Callable[[web.Request], Database],
        clock: Callable[[web.Request], Clock],
        *,
        secure: bool = False,
        path: str = "/console",
    ) -> None:
        super().__init__(cookie_name=COOKIE, path=path, httponly=True, samesite="Lax", secure=None)
        self._db, self._clock, self._secure = db, clock, secure

    async def load_session(self, request: web.Request) -> Session:
        token = self.load_cookie(request)
        if not token or len(token) > 100:
            return Session(None, data=None, new=True)
        key, now = _key(token), self._clock(request).now()

        def load(session: DbSession) -> dict[str, object] | None:
            row = session.get(ConsoleSession, key)
            if row is None:
                return None
            if now - row.seen_at > IDLE:
                session.delete(row)
                return None
            if now - row.seen_at >= TOUCH_EVERY:
                row.seen_at = now
            return dict(row.data)

        data = await self._db(request).run(load)
        if data is None:
            request[EXPIRED] = True
            return Session(None, data=None, new=True)
        return Session(token, data={"created": 0, "session": data}, new=False)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        token: str | None = session.identity
        now = self._clock(request).now()
        data = dict(session)
        if not data:
            if token is not None:
                await self.forget(request, token)
            self.save_cookie(response, "")
            return
        if token is None:
            token = secrets.token_urlsafe(32)
        key = _key(token)

        def save(db_session: DbSession) -> None:
            row = db_session.get(ConsoleSession, key)
            if row is None:
                db_session.add(ConsoleSession(id=key, data=data, created_at=now, seen_at=now))
            else:
                row.data, row.seen_at = data, now

        await self._db(request).run(save)
        params = self.cookie_params.copy()
        params["secure"] = self._secure or request.secure
        response.set_cookie(self.cookie_name, token, **params)

    async def forget(self, request: web.Request, token: str) -> None:
        key = _key(token)

        def drop(session: DbSession) -> None:
            session.execute(delete(ConsoleSession).where(ConsoleSession.id == key))

        await self._db(request).run(drop)


async def rotate(request: web.Request, storage: DatabaseStorage) -> Session:
    """A new session in place of the current one (at login): the old row goes, a new token comes; what the
    old one held for the display (large type) is kept."""
    old = await get_session(request)
    keep = {k: old[k] for k in ("large",) if k in old}
    if old.identity is not None:
        await storage.forget(request, str(old.identity))
    fresh = await new_session(request)
    fresh.update(keep)
    return fresh


def prune(session: DbSession, now: datetime) -> int:
    """Delete sessions idle longer than IDLE (called from the login page: nothing else needs them)."""
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.seen_at < now - IDLE))
    return int(getattr(result, "rowcount", 0) or 0)
