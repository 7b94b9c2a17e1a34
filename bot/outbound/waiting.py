"""What waits for a user's next message: late answers and notices that no push channel could carry go at
the top of the member's next passive reply, and a voice-mode member's clips follow (as customer-service
messages, or one per `听语音`). `WaitingReplies` is the index of who has something waiting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.edge.replies import TextReply, reply_from_json
from bot.outbound.media import NoticeVoice
from bot.outbound.notices import Channel, insert_outbox, outbox_values
from models import Notice, OutboxRow, OutboxStatus
from models.db import Database

# Voice (and the rest of a long notice) follows a next-reply text once the member's message has been
# recorded (write-behind).
VOICE_FOLLOW_DELAY = timedelta(seconds=2)


class WaitingReplies:
    """Which users have late answers waiting for their next message (so that the other users' messages
    need no query). Embedded mode keeps the set in memory, filled at start and by the in-process worker;
    with several processes any of them may have queued one, so the database is always asked."""

    def __init__(self, db: Database, shared: bool) -> None:
        self._db, self._shared = db, shared
        self._openids: set[str] = set()

    async def load(self) -> None:
        if self._shared:
            return
        async with self._db.read() as session:
            found = await session.scalars(
                select(OutboxRow.openid)
                .where(OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value)
                .distinct()
            )
            self._openids = {openid for openid in found.all() if openid}

    def may_have(self, openid: str) -> bool:
        return self._shared or openid in self._openids

    def add(self, openid: str) -> None:
        self._openids.add(openid)

    def discard(self, openid: str) -> None:
        self._openids.discard(openid)


def follow_voice(session: Session, row_id: int, now: datetime, *, waiting: bool) -> None:
    """The clips of a notice whose text went by a channel that cannot carry audio: a `voice` row that goes
    as customer-service messages once the member's next message opens the window."""
    row = session.get(OutboxRow, row_id)
    if row is None or not row.wants_voice or row.notice_id is None:
        return
    values = outbox_values(
        f"voice:{row_id}",
        "voice",
        now,
        openid=row.openid,
        member_id=row.member_id,
        notice_id=row.notice_id,
        wants_voice=True,
        status=(OutboxStatus.WAITING_NEXT_REPLY if waiting else OutboxStatus.QUEUED).value,
        channel=Channel.NEXT_REPLY.value if waiting else None,
        next_attempt_at=None if waiting else now + VOICE_FOLLOW_DELAY,
    )
    insert_outbox(session, [values])


def part_key(row_id: int, number: int) -> str:
    return f"part:{row_id}:{number}"


def send_in_parts(
    session: Session, row_id: int, parts: Sequence[tuple[int, str]], now: datetime, *, waiting: bool
) -> None:
    """A text longer than one message, as (number, part): waiting for the next message (`waiting`), the row
    carries the first part and each later one is a `text` row of its own, after it; otherwise the first
    parts already went and these are queued to go as soon as a channel opens."""
    row = session.get(OutboxRow, row_id)
    if row is None or not parts:
        return
    later = list(parts)
    if waiting:
        row.payload = {**(row.payload or {}), "text": later.pop(0)[1]}
    insert_outbox(
        session,
        [
            outbox_values(
                part_key(row_id, number),
                "text",
                now,
                openid=row.openid,
                member_id=row.member_id,
                notice_id=row.notice_id,
                payload={"text": part, "part_of": row_id},
                status=(OutboxStatus.WAITING_NEXT_REPLY if waiting else OutboxStatus.QUEUED).value,
                channel=Channel.NEXT_REPLY.value if waiting else None,
                next_attempt_at=None if waiting else now,
            )
            for number, part in later
        ],
    )


@dataclass(frozen=True, slots=True)
class Waiting:
    id: int
    kind: str  # late_reply, notice, relay, text (a later part of a long notice)
    text: str
    voice: bool = False  # a voice-mode member's notice: its audio follows


async def waiting_for(session: AsyncSession, openid: str) -> tuple[list[Waiting], list[int]]:
    """What waits for this user's next message: texts (oldest first) and voice rows to send once the
    message has opened the customer-service window."""
    rows = (
        await session.execute(
            select(OutboxRow.id, OutboxRow.kind, OutboxRow.payload, Notice.text, OutboxRow.wants_voice)
            .outerjoin(Notice, Notice.id == OutboxRow.notice_id)
            .where(OutboxRow.openid == openid, OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value)
            .order_by(OutboxRow.id)
        )
    ).all()
    texts: list[Waiting] = []
    voice: list[int] = []
    for row_id, kind, payload, notice_text, wants_voice in rows:
        if kind == "voice":
            voice.append(row_id)
        elif kind == "late_reply":
            reply = reply_from_json(payload["reply"])
            if isinstance(reply, TextReply):
                texts.append(Waiting(row_id, kind, reply.text))
        else:
            text = str(payload.get("text") or notice_text or "")
            texts.append(Waiting(row_id, kind, text, bool(wants_voice) and kind == "notice"))
    return texts, voice


async def next_clip(db: Database, voice: NoticeVoice, openid: str, now: datetime) -> str | None:
    """`听语音`: the media id of the next clip of the oldest notice whose voice waits for this user (a
    passive voice reply), or None. The row is sent once its last clip has been played."""
    async with db.read() as session:
        row = (
            await session.execute(
                select(OutboxRow.id, OutboxRow.notice_id, OutboxRow.voice_clips_sent, Notice.text)
                .join(Notice, Notice.id == OutboxRow.notice_id)
                .where(
                    OutboxRow.openid == openid,
                    OutboxRow.kind == "voice",
                    OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value,
                )
                .order_by(OutboxRow.id)
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    row_id, notice_id, played, text = row
    if notice_id is None:
        return None
    media = await voice.media_ids(notice_id, str(text))
    if played >= len(media):
        return None
    last = played + 1 >= len(media)
    statement = (
        update(OutboxRow)
        .where(OutboxRow.id == row_id)
        .values(
            voice_clips_sent=played + 1,
            status=(OutboxStatus.SENT if last else OutboxStatus.WAITING_NEXT_REPLY).value,
            channel=Channel.NEXT_REPLY.value,
            updated_at=now,
        )
    )
    await db.run(lambda session: session.execute(statement))
    return media[played]


async def mark_sent_with_reply(
    db: Database, ids: list[int], voice_ids: list[int], now: datetime, *, voice_follows: bool
) -> None:
    """Rows put in front of a passive reply are sent; a voice-mode member's clips follow as customer-service
    messages (the message they just sent opened the window) where the account has that API, and otherwise
    wait for them to ask (`听语音`: one clip per passive reply)."""

    def write(session: Session) -> None:
        if ids:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value)
                .values(status=OutboxStatus.SENT.value, channel=Channel.NEXT_REPLY.value, updated_at=now)
            )
            for row_id in ids:
                follow_voice(session, row_id, now, waiting=not voice_follows)
            if voice_follows:
                # The rest of a long notice need not wait for yet another message: this one opened the window.
                session.execute(
                    update(OutboxRow)
                    .where(
                        OutboxRow.kind == "text",
                        OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value,
                        or_(*(OutboxRow.idempotency_key.like(f"part:{row_id}:%") for row_id in ids)),
                    )
                    .values(
                        status=OutboxStatus.QUEUED.value,
                        channel=None,
                        next_attempt_at=now + VOICE_FOLLOW_DELAY,
                        updated_at=now,
                    )
                )
        if voice_ids:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(voice_ids), OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value)
                .values(
                    status=OutboxStatus.QUEUED.value,
                    channel=None,
                    next_attempt_at=now + VOICE_FOLLOW_DELAY,
                    updated_at=now,
                )
            )

    await db.run(write)
