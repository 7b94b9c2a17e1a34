"""Writes the reply does not need (the customer-service window state, the inbound log), batched and
committed off the hot path (DESIGN.md: a read-only answer needs no synchronous database write)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.metrics import Metrics
from bot.wechat.window import EVENT_SENDS, EVENT_WINDOW, MESSAGE_SENDS, MESSAGE_WINDOW
from models import InboundLog, WeChatUser
from models.db import Database, Prepared

log = logging.getLogger(__name__)

CHUNK = 200
# Core tables: batches go through executemany, not the ORM's unit of work.
USERS: Table = WeChatUser.__table__  # type: ignore[assignment]  # declarative tables are Tables
LOG: Table = InboundLog.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Interaction:
    openid: str
    opens: str | None  # "message", "event" or None (see bot.wechat.window)
    at: datetime


@dataclass(frozen=True, slots=True)
class LogEntry:
    dedupe_key: str
    openid: str
    kind: str
    event: str | None
    content: str | None
    route: str | None
    duration_ms: int | None
    late: bool
    received_at: datetime

    def row(self) -> dict[str, object]:
        return {
            "dedupe_key": self.dedupe_key,
            "openid": self.openid,
            "kind": self.kind,
            "event": self.event,
            "content": self.content,
            "route": self.route,
            "duration_ms": self.duration_ms,
            "late": self.late,
            "received_at": self.received_at,
        }


class WriteBehind:
    def __init__(self, db: Database, interval_s: float, metrics: Metrics, max_batch: int = 500) -> None:
        self._db, self._interval, self._metrics, self._max = db, interval_s, metrics, max_batch
        self._interactions: list[Interaction] = []
        self._logs: list[LogEntry] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._known: set[str] = set()
        self._stopping = False

    def record(self, item: Interaction) -> None:
        self._interactions.append(item)
        self._maybe_wake()

    def log(self, entry: LogEntry) -> None:
        self._logs.append(entry)
        self._maybe_wake()

    def known(self, openid: str) -> None:
        """The user's row exists (another write created it): batches need not insert it."""
        self._known.add(openid)

    def forget(self, openid: str) -> None:
        """Drop what is pending for a user who unfollowed (their WeChat-side data goes)."""
        self._interactions = [i for i in self._interactions if i.openid != openid]
        self._logs = [e for e in self._logs if e.openid != openid]

    @property
    def pending(self) -> int:
        return len(self._interactions) + len(self._logs)

    def _maybe_wake(self) -> None:
        if self.pending >= self._max:
            self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="write-behind")

    async def stop(self) -> None:
        """Let a flush in progress finish (cancelling it mid-write would lose what it had taken), then
        write what is left."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("write-behind flush failed; will retry")

    async def flush(self) -> None:
        async with self._flush_lock:
            interactions, self._interactions = self._interactions, []
            logs, self._logs = self._logs, []
            if not interactions and not logs:
                return
            try:
                new = {i.openid for i in interactions} - self._known
                await self._db.run(lambda session: self._write(session, interactions, logs, new))
                # Rows are never deleted, so once known a user needs no insert (harmless if another
                # process inserted it first).
                self._known |= new
            except BaseException:
                # Put them back so the next flush tries again; nothing is silently lost. (A flush cancelled
                # from outside may still commit in the writer thread, so it could repeat them; stop()
                # never cancels a flush.)
                self._interactions[:0] = interactions
                self._logs[:0] = logs
                raise
            self._metrics.write_behind_flushes.inc()

    def _write(
        self, session: Session, interactions: list[Interaction], logs: list[LogEntry], new: set[str]
    ) -> None:
        """Runs in the writer (one transaction): executemany in chunks, not an ORM unit of work per row."""
        for start in range(0, len(interactions), CHUNK):
            self._apply_interactions(session, interactions[start : start + CHUNK], new)
        for start in range(0, len(logs), CHUNK):
            _LOG_INSERT.executemany(session, [e.row() for e in logs[start : start + CHUNK]])

    @staticmethod
    def _apply_interactions(session: Session, interactions: list[Interaction], new_users: set[str]) -> None:
        """Per user, a batch (a fraction of a second) reduces to: the last message (which opens a fresh
        5-send, 48 h allowance), else the last click/follow/scan (3 sends, 1 minute, unless a live 48 h
        allowance stands: decided in SQL against the stored row), and the last time seen."""
        seen: dict[str, datetime] = {}
        message_at: dict[str, datetime] = {}
        event_at: dict[str, datetime] = {}
        for item in interactions:
            seen[item.openid] = max(seen.get(item.openid, item.at), item.at)
            if item.opens == "message":
                message_at[item.openid] = max(message_at.get(item.openid, item.at), item.at)
            elif item.opens == "event":
                event_at[item.openid] = max(event_at.get(item.openid, item.at), item.at)
        if message_at:
            # One upsert: a follower not in the table yet is inserted with the allowance open.
            _SEEN_MESSAGE[session.get_bind().dialect.name].executemany(
                session,
                [
                    {
                        "openid": o,
                        "subscribed": True,
                        "first_seen_at": seen[o],
                        "last_seen_at": seen[o],
                        "last_message_at": at,
                        "window_kind": "message",
                        "window_expires_at": at + MESSAGE_WINDOW,
                        "window_left": MESSAGE_SENDS,
                    }
                    for o, at in message_at.items()
                ],
            )
        new = [o for o in seen if o in new_users and o not in message_at]
        if new:
            _NEW_USERS[session.get_bind().dialect.name].executemany(
                session,
                [
                    {
                        "openid": o,
                        "subscribed": True,
                        "first_seen_at": seen[o],
                        "last_seen_at": seen[o],
                        "window_left": 0,
                    }
                    for o in new
                ],
            )
        events = {o: at for o, at in event_at.items() if o not in message_at or message_at[o] < at}
        if events:
            _SEEN_EVENT.executemany(
                session,
                [
                    {"b_openid": o, "b_seen": seen[o], "b_at": at, "b_expires": at + EVENT_WINDOW}
                    for o, at in events.items()
                ],
            )
        rest = [o for o in seen if o not in message_at and o not in events]
        if rest:
            _SEEN.executemany(session, [{"b_openid": o, "b_seen": seen[o]} for o in rest])


# The statements, compiled once per dialect and run through the DBAPI's executemany (models.db.Prepared):
# SQLAlchemy's per-row parameter handling cost more than SQLite's own work.
_c = USERS.c
_LOG_INSERT = Prepared(insert(LOG), column_keys=[f.name for f in fields(LogEntry)])
_NEW_USER_COLUMNS = ["openid", "subscribed", "first_seen_at", "last_seen_at", "window_left"]
_MESSAGE_COLUMNS = [*_NEW_USER_COLUMNS, "last_message_at", "window_kind", "window_expires_at"]
_ON_MESSAGE = ["last_seen_at", "last_message_at", "window_kind", "window_expires_at", "window_left"]


def _seen_message(insert_of: Any) -> Prepared:
    statement = insert_of(USERS)
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=["openid"], set_={name: statement.excluded[name] for name in _ON_MESSAGE}
        ),
        _MESSAGE_COLUMNS,
    )


_SEEN_MESSAGE = {"sqlite": _seen_message(sqlite_insert), "postgresql": _seen_message(pg_insert)}
_NEW_USERS = {
    name: Prepared(insert_of(USERS).on_conflict_do_nothing(index_elements=["openid"]), _NEW_USER_COLUMNS)
    for name, insert_of in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}
_live_message = and_(_c.window_kind == "message", _c.window_expires_at > bindparam("b_at"))
_SEEN_EVENT = Prepared(
    update(USERS)
    .where(_c.openid == bindparam("b_openid"))
    .values(
        last_seen_at=bindparam("b_seen"),
        window_kind=case((_live_message, _c.window_kind), else_="event"),
        # Typed: an untyped parameter in a CASE would reach SQLite as the driver's own datetime text.
        window_expires_at=case(
            (_live_message, _c.window_expires_at),
            else_=bindparam("b_expires", type_=_c.window_expires_at.type),
        ),
        window_left=case((_live_message, _c.window_left), else_=EVENT_SENDS),
    )
)
_SEEN = Prepared(
    update(USERS).where(_c.openid == bindparam("b_openid")).values(last_seen_at=bindparam("b_seen"))
)
