"""Writes the reply does not need (the customer-service window state, the inbound log), batched and
committed off the hot path (DESIGN.md: a read-only answer needs no synchronous database write)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.metrics import Metrics
from bot.window import Window, opened
from models import InboundLog, WeChatUser
from models.db import Database, dialect_insert

log = logging.getLogger(__name__)

USERS: Table = WeChatUser.__table__  # type: ignore[assignment]  # declarative tables are Tables


@dataclass(frozen=True, slots=True)
class Interaction:
    openid: str
    opens: str | None  # "message", "event" or None (see bot.window)
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


class WriteBehind:
    def __init__(self, db: Database, interval_s: float, metrics: Metrics, max_batch: int = 500) -> None:
        self._db, self._interval, self._metrics, self._max = db, interval_s, metrics, max_batch
        self._interactions: list[Interaction] = []
        self._logs: list[LogEntry] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    def record(self, item: Interaction) -> None:
        self._interactions.append(item)
        self._maybe_wake()

    def log(self, entry: LogEntry) -> None:
        self._logs.append(entry)
        self._maybe_wake()

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
        self._task = asyncio.create_task(self._run(), name="write-behind")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
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
                async with self._db.write() as session:
                    if interactions:
                        await self._apply_interactions(session, interactions)
                    if logs:
                        # One executemany, not an ORM unit of work per row.
                        await session.execute(insert(InboundLog), [asdict(entry) for entry in logs])
            except Exception:
                # Put them back so the next flush tries again; nothing is silently lost.
                self._interactions[:0] = interactions
                self._logs[:0] = logs
                raise
            self._metrics.write_behind_flushes.inc()

    @staticmethod
    async def _apply_interactions(session: AsyncSession, interactions: list[Interaction]) -> None:
        first: dict[str, datetime] = {}
        for item in interactions:
            first.setdefault(item.openid, item.at)
        await session.execute(
            dialect_insert(session)(WeChatUser)
            .values([{"openid": o, "first_seen_at": at, "last_seen_at": at} for o, at in first.items()])
            .on_conflict_do_nothing(index_elements=["openid"])
        )
        cols = (
            WeChatUser.openid,
            WeChatUser.last_seen_at,
            WeChatUser.last_message_at,
            WeChatUser.window_kind,
            WeChatUser.window_expires_at,
            WeChatUser.window_left,
        )
        state = {
            row.openid: dict(row._mapping)
            for row in await session.execute(select(*cols).where(WeChatUser.openid.in_(first)))
        }
        for item in sorted(interactions, key=lambda i: i.at):
            user = state[item.openid]
            user["last_seen_at"] = max(user["last_seen_at"], item.at)
            if item.opens is None:
                continue
            if item.opens == "message":
                user["last_message_at"] = item.at
            window = opened(
                Window(user["window_kind"], user["window_expires_at"], user["window_left"]),
                item.opens,
                item.at,
            )
            user.update(window_kind=window.kind, window_expires_at=window.expires_at, window_left=window.left)
        await session.execute(
            # Core (table) UPDATE with executemany: one statement for the whole batch.
            update(USERS)
            .where(USERS.c.openid == bindparam("b_openid"))
            .values(
                {
                    name: bindparam(f"b_{name}")
                    for name in (
                        "last_seen_at",
                        "last_message_at",
                        "window_kind",
                        "window_expires_at",
                        "window_left",
                    )
                }
            ),
            [{f"b_{k}": v for k, v in user.items()} for user in state.values()],
        )
