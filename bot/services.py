"""The app's services that handlers and the dispatcher share: conversations, users, outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.domain.binding import Binder
from bot.domain.calendar import Holidays
from bot.domain.identity import Identities
from bot.domain.privacy import Vault
from bot.domain.study_index import StudyLibrary
from bot.edge.conversation import Conversations
from bot.edge.dedupe import DedupeStore
from bot.edge.locks import UserLocks
from bot.edge.replies import Reply, reply_to_json
from bot.edge.writebehind import USERS, WriteBehind
from bot.metrics import Metrics
from bot.outbound.media import NoticeVoice
from bot.outbound.waiting import WaitingReplies
from bot.voice.speech import ASRBackend
from bot.wechat.account import Capability, allowed
from bot.wechat.errors import WeChatError
from bot.wechat.gateway import QRCode, WeChatGateway
from models import ConversationState, InboundLog, OutboxRow, OutboxStatus, WeChatUser
from models.db import Database, dialect_insert

log = logging.getLogger(__name__)


class Users:
    """Followers: subscription state, and erasing WeChat-side data on unfollow."""

    def __init__(
        self,
        db: Database,
        write_behind: WriteBehind,
        conversations: Conversations,
        identities: Identities,
        binder: Binder | None,
    ) -> None:
        self._db, self._write_behind, self._conversations = db, write_behind, conversations
        self._identities, self._binder = identities, binder

    async def subscribed(self, openid: str, at: datetime) -> None:
        def write(session: Session) -> None:
            session.execute(
                dialect_insert(session)(USERS)
                .values(openid=openid, first_seen_at=at, last_seen_at=at, subscribed=True, subscribed_at=at)
                .on_conflict_do_update(
                    index_elements=["openid"],
                    set_={"subscribed": True, "subscribed_at": at, "unsubscribed_at": None},
                )
            )

        await self._db.run(write)
        self._write_behind.known(openid)

    async def unsubscribed(self, openid: str, at: datetime) -> None:
        """WeChat's rules ask the account to delete a user's data when they unfollow: the openid's
        conversation, message log and allowance go; the row stays as a bare marker."""
        self._write_behind.forget(openid)
        self._conversations.forget(openid)
        if self._binder is not None:
            await self._binder.unbind(openid)
        self._identities.invalidate(openid)

        def write(session: Session) -> None:
            session.execute(delete(ConversationState).where(ConversationState.openid == openid))
            session.execute(delete(InboundLog).where(InboundLog.openid == openid))
            session.execute(
                update(WeChatUser)
                .where(WeChatUser.openid == openid)
                .values(
                    subscribed=False,
                    unsubscribed_at=at,
                    last_message_at=None,
                    window_kind=None,
                    window_expires_at=None,
                    window_left=0,
                )
            )

        await self._db.run(write)


class LateReplies:
    """Answers that missed the reply budget: persisted in the outbox before `success` is returned."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db, self._clock = db, clock

    @staticmethod
    def key(dedupe_key: str) -> str:
        return f"late:{dedupe_key}"

    async def hold(self, dedupe_key: str, openid: str, message: dict[str, Any]) -> None:
        """Store the inbound message so the answer survives the process (status awaiting-answer)."""
        now = self._clock.now()

        def write(session: Session) -> None:
            session.execute(
                dialect_insert(session)(OutboxRow)
                .values(
                    idempotency_key=self.key(dedupe_key),
                    openid=openid,
                    kind="late_reply",
                    status=OutboxStatus.AWAITING_ANSWER.value,
                    payload={"message": message},
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )

        await self._db.run(write)

    async def claim_abandoned(
        self, older_than_s: float, owner: str, lease_s: float = 300
    ) -> list[dict[str, Any]]:
        """Late messages whose handler never finished (the process died): claim them for a re-run.
        Returns their stored inbound fields."""
        now = self._clock.now()
        cutoff = now - timedelta(seconds=older_than_s)

        def claim(session: Session) -> list[dict[str, Any]]:
            query = (
                select(OutboxRow)
                .where(
                    OutboxRow.kind == "late_reply",
                    OutboxRow.status == OutboxStatus.AWAITING_ANSWER.value,
                    OutboxRow.created_at < cutoff,
                    or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
                )
                .order_by(OutboxRow.id)
                .limit(20)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.scalars(query).all()
            for row in rows:
                row.lease_owner, row.lease_until = owner, now + timedelta(seconds=lease_s)
                row.attempts += 1
            return [dict(row.payload["message"]) for row in rows]

        return await self._db.run(claim)

    async def answer(self, dedupe_key: str, reply: Reply | None) -> None:
        """The handler finished: queue its answer for delivery (or close the row if it had none)."""
        now = self._clock.now()

        def write(session: Session) -> None:
            row = session.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == self.key(dedupe_key)))
            if row is None or row.status != OutboxStatus.AWAITING_ANSWER.value:
                return
            row.payload = {**row.payload, "reply": reply_to_json(reply) if reply else None}
            row.status = (OutboxStatus.QUEUED if reply else OutboxStatus.NO_ANSWER).value
            row.next_attempt_at = now if reply else None
            row.lease_owner = row.lease_until = None
            row.updated_at = now

        await self._db.run(write)


@dataclass(slots=True)
class Services:
    db: Database
    clock: Clock
    metrics: Metrics
    dedupe: DedupeStore
    locks: UserLocks
    write_behind: WriteBehind
    conversations: Conversations
    waiting: WaitingReplies
    identities: Identities
    vault: Vault | None
    binder: Binder | None
    users: Users
    late_replies: LateReplies
    # Set once the gateway exists: downloading voice messages and recognising them (PARTYBOT_ASR_BACKEND).
    gateway: WeChatGateway | None = None
    asr: ASRBackend | None = None
    notice_voice: NoticeVoice | None = None  # notices read aloud (`听语音` on an account without push)
    # Statutory holidays (content/holidays.yaml over the chinesecalendar package), shared with the jobs.
    holidays: Holidays = field(default_factory=Holidays.load)
    # 学习园地's search index (bot.domain.study_index), built at start-up.
    study: StudyLibrary | None = None

    async def qr_code(self, scene: str, seconds: int) -> QRCode | None:
        """A temporary parametric QR code (its `url` is what the code encodes), or None when the account may
        not make one or WeChat refused (logged)."""
        if self.gateway is None or not allowed(self.gateway.settings.wechat_account, Capability.QRCODE):
            return None
        try:
            return await self.gateway.create_qrcode(scene, max(60, seconds))
        except WeChatError as exc:
            log.warning("QR code for %s could not be made: %s", scene.split(":", 1)[0], exc)
            return None

    async def qr_image_url(self, scene: str, seconds: int) -> str | None:
        """A temporary parametric QR code's image address on WeChat's site (to show or print), or None."""
        qr = await self.qr_code(scene, seconds)
        if qr is None:
            return None
        return f"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={quote(qr.ticket)}"

    async def download_voice(self, media_id: str | None, key: str) -> bytes | None:
        """A voice message's audio (WeChat keeps it 3 days), or None when there is no gateway or the
        download failed (logged under the message's dedupe key)."""
        if self.gateway is None or not media_id:
            return None
        try:
            return await self.gateway.get_media(media_id)
        except WeChatError as exc:
            log.warning("voice message %s could not be downloaded: %s", key, exc)
            return None
