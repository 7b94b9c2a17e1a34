"""A notice read aloud: its clips made once (stored in notice_clips, so they can be uploaded again after
WeChat's 3 days) and uploaded as temporary media when a channel needs them."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.voice.speech import VoiceMaker, VoiceUnavailable
from bot.wechat.errors import WeChatError
from bot.wechat.gateway import WeChatGateway
from models import NoticeClip
from models.db import Database, dialect_insert

log = logging.getLogger(__name__)

# WeChat keeps temporary media 3 days; clips older than this are uploaded again before use.
MEDIA_FRESH = timedelta(days=2, hours=12)


class NoticeVoice:
    """A notice read aloud: clips made once (stored, so they can be uploaded again after WeChat's 3 days)
    and uploaded as temporary media when needed."""

    def __init__(self, db: Database, gateway: WeChatGateway, maker: VoiceMaker | None, clock: Clock) -> None:
        self._db, self._gateway, self._maker, self._clock = db, gateway, maker, clock
        self._locks: dict[int, asyncio.Lock] = {}
        self._media: dict[int, tuple[datetime, list[str]]] = {}

    async def media_ids(self, notice_id: int, text: str) -> list[str]:
        """Uploaded media ids of the notice's clips, in order; [] when voice is unavailable."""
        now = self._clock.now()
        cached = self._media.get(notice_id)
        if cached is not None and now - cached[0] < MEDIA_FRESH:
            return cached[1]
        lock = self._locks.setdefault(notice_id, asyncio.Lock())
        async with lock:
            cached = self._media.get(notice_id)
            if cached is not None and now - cached[0] < MEDIA_FRESH:
                return cached[1]
            try:
                ids = await self._ensure(notice_id, text, now)
            except (VoiceUnavailable, WeChatError) as exc:
                log.warning("notice %s goes without voice: %s", notice_id, exc)
                ids = []
            oldest = now if ids else now - MEDIA_FRESH + timedelta(minutes=5)
            self._media[notice_id] = (oldest, ids)
            return ids

    async def _clips(self, notice_id: int) -> list[NoticeClip]:
        async with self._db.read() as session:
            return list(
                (
                    await session.scalars(
                        select(NoticeClip).where(NoticeClip.notice_id == notice_id).order_by(NoticeClip.seq)
                    )
                ).all()
            )

    async def _ensure(self, notice_id: int, text: str, now: datetime) -> list[str]:
        clips = await self._clips(notice_id)
        if not clips:
            if self._maker is None or await self._maker.status() is not None:
                return []
            made = await self._maker.clips(text)
            rows = [
                {"notice_id": notice_id, "seq": i, "audio": c.data, "seconds": c.seconds}
                for i, c in enumerate(made)
            ]

            def store(session: Session) -> None:
                if rows:
                    statement = dialect_insert(session)(NoticeClip).values(rows)
                    session.execute(statement.on_conflict_do_nothing(index_elements=["notice_id", "seq"]))

            await self._db.run(store)
            clips = await self._clips(notice_id)
        ids = []
        for clip in clips:
            if clip.media_id and clip.uploaded_at and now - clip.uploaded_at < MEDIA_FRESH:
                ids.append(clip.media_id)
                continue
            ids.append(await self.upload(clip.id, clip.audio, now))
        return ids

    async def upload(self, clip_id: int, audio: bytes, now: datetime) -> str:
        media = await self._gateway.upload_media("voice", f"notice-{clip_id}.amr", audio, "audio/amr")
        statement = (
            update(NoticeClip)
            .where(NoticeClip.id == clip_id)
            .values(media_id=media.media_id, uploaded_at=now)
        )
        await self._db.run(lambda session: session.execute(statement))
        return media.media_id
