"""Delivers late replies from the outbox through the gateway.

A late reply goes as a customer-service message while the user's allowance is open; otherwise (an
unverified account, a closed window, 45015/45047) it waits and goes out with the user's next passive reply.
Customer-service sends carry no idempotency key, so delivery is at most once: a row is marked `sending`
(committed) before the call; a row found `sending` after its lease ran out was in flight when a worker died
and becomes `in-doubt`, never resent automatically (DESIGN.md, Outbound delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.gateway import (
    Capability,
    NotFollowing,
    OutsideReplyWindow,
    ReplyCountExceeded,
    WeChatError,
    WeChatGateway,
)
from bot.metrics import Metrics
from bot.replies import ImageReply, Reply, TextReply, VoiceReply, reply_from_json
from bot.window import Window
from models import OutboxRow, OutboxStatus, WeChatUser
from models.db import Database

log = logging.getLogger(__name__)

SENDING = "sending"
NEXT_REPLY = "next_reply"
CUSTOMER_SERVICE = "customer_service"


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    openid: str
    reply: Reply
    attempts: int


class LateReplyWorker:
    def __init__(
        self,
        db: Database,
        gateway: WeChatGateway,
        clock: Clock,
        metrics: Metrics,
        worker_id: str,
        timezone: str,
        lease_s: float = 60.0,
        batch: int = 50,
        on_waiting: Callable[[str], None] | None = None,
    ) -> None:
        self._on_waiting = on_waiting
        self._db, self._gateway, self._clock, self._metrics = db, gateway, clock, metrics
        self._id, self._tz, self._lease, self._batch = worker_id, ZoneInfo(timezone), lease_s, batch

    async def run_forever(self, stop: asyncio.Event, interval_s: float = 0.5) -> None:
        while not stop.is_set():
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("late-reply delivery failed; will retry")
                done = 0
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)
        await self.release()

    async def run_once(self) -> int:
        """Mark abandoned sends in doubt, then claim and deliver what is due. Returns rows handled."""
        await self._mark_in_doubt()
        claimed = await self._claim()
        for row in claimed:
            await self._deliver(row)
        return len(claimed)

    async def release(self) -> None:
        """Graceful shutdown: give back claimed rows that were not started."""
        statement = (
            update(OutboxRow)
            .where(OutboxRow.lease_owner == self._id, OutboxRow.status == OutboxStatus.QUEUED.value)
            .values(lease_owner=None, lease_until=None)
        )
        await self._db.run(lambda session: session.execute(statement))

    async def _mark_in_doubt(self) -> None:
        now = self._clock.now()
        statement = (
            update(OutboxRow)
            .where(OutboxRow.status == SENDING, OutboxRow.lease_until < now)
            .values(
                status=OutboxStatus.IN_DOUBT.value,
                last_error="worker stopped during the API call",
                updated_at=now,
            )
        )
        await self._db.run(lambda session: session.execute(statement))

    async def _claim(self) -> list[Claimed]:
        now = self._clock.now()
        due = and_(
            OutboxRow.kind == "late_reply",
            OutboxRow.status == OutboxStatus.QUEUED.value,
            or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now),
            or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
        )

        def claim(session: Session) -> list[Claimed]:
            query = select(OutboxRow).where(due).order_by(OutboxRow.id).limit(self._batch)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            claimed: list[Claimed] = []
            for row in session.scalars(query).all():
                # Committed before the call: a crash from here on leaves the row in doubt, not resent.
                row.status, row.lease_owner = SENDING, self._id
                row.lease_until = now + timedelta(seconds=self._lease)
                row.attempts += 1
                row.updated_at = now
                claimed.append(
                    Claimed(row.id, row.openid, reply_from_json(row.payload["reply"]), row.attempts)
                )
            return claimed

        return await self._db.run(claim)

    async def _window_open(self, openid: str) -> bool:
        async with self._db.read() as session:
            user = await session.get(WeChatUser, openid)
        if user is None:
            return False
        return Window(user.window_kind, user.window_expires_at, user.window_left).is_open(self._clock.now())

    async def _send(self, row: Claimed) -> None:
        reply = row.reply
        if isinstance(reply, TextReply):
            await self._gateway.send_text(row.openid, reply.text)
        elif isinstance(reply, VoiceReply):
            await self._gateway.send_voice(row.openid, reply.media_id)
        elif isinstance(reply, ImageReply):
            await self._gateway.send_image(row.openid, reply.media_id)

    async def _deliver(self, row: Claimed) -> None:
        if not self._gateway.can(Capability.CUSTOMER_SERVICE) or not await self._window_open(row.openid):
            await self._finish(row, OutboxStatus.WAITING_NEXT_REPLY, NEXT_REPLY)
            return
        try:
            await self._send(row)
        except (OutsideReplyWindow, ReplyCountExceeded) as exc:
            # WeChat disagrees with our window model: the channel is closed for this user; fall through.
            await self._finish(
                row, OutboxStatus.WAITING_NEXT_REPLY, NEXT_REPLY, error=str(exc), close_window=True
            )
        except NotFollowing as exc:
            await self._finish(row, OutboxStatus.FAILED, CUSTOMER_SERVICE, error=str(exc))
        except WeChatError as exc:
            if exc.retryable:
                await self._retry(row, exc)
            else:
                await self._finish(row, OutboxStatus.FAILED, CUSTOMER_SERVICE, error=str(exc))
        else:
            await self._finish(row, OutboxStatus.SENT, CUSTOMER_SERVICE, used_one=True)

    async def _finish(
        self,
        row: Claimed,
        status: OutboxStatus,
        channel: str,
        *,
        error: str | None = None,
        used_one: bool = False,
        close_window: bool = False,
    ) -> None:
        now = self._clock.now()
        self._metrics.delivery_results.labels(channel, status.value).inc()
        if status is OutboxStatus.WAITING_NEXT_REPLY and self._on_waiting is not None:
            self._on_waiting(row.openid)

        def write(session: Session) -> None:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id)
                .values(
                    status=status.value,
                    channel=channel,
                    last_error=error,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
            if used_one:
                session.execute(
                    update(WeChatUser)
                    .where(WeChatUser.openid == row.openid, WeChatUser.window_left > 0)
                    .values(window_left=WeChatUser.window_left - 1)
                )
            if close_window:
                session.execute(
                    update(WeChatUser).where(WeChatUser.openid == row.openid).values(window_left=0)
                )

        await self._db.run(write)

    def _backoff(self, row: Claimed, exc: WeChatError) -> datetime:
        now = self._clock.now()
        if exc.errcode == 45009:
            # The daily quota resets at midnight Beijing time.
            local = now.astimezone(self._tz)
            return (local + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)
        return now + timedelta(seconds=min(5 * 2 ** (row.attempts - 1), 600))

    async def _retry(self, row: Claimed, exc: WeChatError) -> None:
        now = self._clock.now()
        self._metrics.delivery_results.labels(CUSTOMER_SERVICE, "retry").inc()
        statement = (
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(
                status=OutboxStatus.QUEUED.value,
                next_attempt_at=self._backoff(row, exc),
                last_error=str(exc),
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
        await self._db.run(lambda session: session.execute(statement))


async def waiting_replies(session: AsyncSession, openid: str) -> list[tuple[int, str]]:
    """Late text replies waiting for this user's next message (id, text), oldest first."""
    rows = (
        await session.scalars(
            select(OutboxRow)
            .where(OutboxRow.openid == openid, OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value)
            .order_by(OutboxRow.id)
        )
    ).all()
    waiting = []
    for row in rows:
        reply = reply_from_json(row.payload["reply"])
        if isinstance(reply, TextReply):
            waiting.append((row.id, reply.text))
    return waiting


async def mark_sent_with_reply(db: Database, ids: list[int], now: datetime) -> None:
    statement = (
        update(OutboxRow)
        .where(OutboxRow.id.in_(ids), OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value)
        .values(status=OutboxStatus.SENT.value, channel=NEXT_REPLY, updated_at=now)
    )
    await db.run(lambda session: session.execute(statement))
