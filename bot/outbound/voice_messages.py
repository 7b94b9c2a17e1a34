"""A member's voice messages nobody understood (the recogniser heard nothing): their secretaries get one alert
about that member, which a later voice message updates ("发来2条语音留言", its audio added) for as long as
the alert has reached none of them; and `听留言 王秀兰` plays the audio kept (with the member's consent,
PARTYBOT_VOICE_RETENTION_DAYS) back to a secretary, one clip per passive reply, each play audited.

The alert is a system notice (bot.outbound.notices) about the member (`Notice.subject_member_id`); its
clips are the member's own recordings (notice_clips), which housekeeping deletes after the retention."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.domain import audit
from bot.domain.policy import within
from bot.outbound.media import MEDIA_FRESH, NoticeVoice
from bot.outbound.notices import add_system_notice
from bot.wechat.errors import WeChatError
from models import AuditEntry, Member, Notice, NoticeClip, OrgUnit, OutboxRow, OutboxStatus
from models.db import Database

AUDIT_ACTION = "listen_voice_messages"
# Alert text for (messages, of them with audio kept): the handler's words.
AlertText = Callable[[int, int], str]


def _open_alert(session: Session, member_id: int, now: datetime) -> Notice | None:
    """The latest alert about this member that has reached nobody yet: every row of it still queued (and
    not claimed by a worker) or waiting for the secretary's next message."""
    notice = session.scalars(
        select(Notice)
        .where(Notice.kind == "system", Notice.subject_member_id == member_id)
        .order_by(Notice.id.desc())
        .limit(1)
    ).first()
    if notice is None:
        return None
    rows = session.execute(
        select(OutboxRow.status, OutboxRow.lease_until).where(OutboxRow.notice_id == notice.id)
    ).all()
    if not rows:
        return None
    for status, lease_until in rows:
        if status == OutboxStatus.WAITING_NEXT_REPLY.value:
            continue
        if status == OutboxStatus.QUEUED.value and (lease_until is None or lease_until < now):
            continue
        return None
    return notice


def _seen(session: Session, member_id: int, key: str) -> bool:
    """Whether this voice message was already told (a message answered again after a crash)."""
    if session.scalar(select(Notice.id).where(Notice.kind == "system", Notice.author == key)) is not None:
        return True
    folded = session.scalars(
        select(Notice.folded_keys).where(Notice.kind == "system", Notice.subject_member_id == member_id)
    ).all()
    return any(key in (keys or ()) for keys in folded)


def alert_secretaries(
    session: Session,
    now: datetime,
    *,
    key: str,
    member_id: int,
    secretaries: Sequence[int],
    audio: Sequence[tuple[bytes, float]],
    text: AlertText,
) -> int:
    """Tell a member's secretaries that a voice message of theirs waits (with its audio, if kept). While
    the previous alert about them has reached nobody, it is updated instead of adding another. Returns the
    notice id; calling again with the same key changes nothing."""
    if _seen(session, member_id, key):
        return 0
    notice = _open_alert(session, member_id, now)
    if notice is None:
        return add_system_notice(
            session,
            now,
            key=key,
            text=text(1, len(audio)),
            member_ids=secretaries,
            audio=audio,
            subject_member_id=member_id,
        )
    seq = session.scalar(select(func.max(NoticeClip.seq)).where(NoticeClip.notice_id == notice.id))
    start = -1 if seq is None else int(seq)
    for offset, (data, seconds) in enumerate(audio, 1):
        session.add(NoticeClip(notice_id=notice.id, seq=start + offset, audio=data, seconds=seconds))
    kept = (start + 1) + len(audio)
    notice.folded_keys = [*(notice.folded_keys or ()), key]
    notice.text = text(1 + len(notice.folded_keys), kept)
    if audio:
        for row in session.scalars(select(OutboxRow).where(OutboxRow.notice_id == notice.id)).all():
            row.wants_voice, row.updated_at = True, now
    return notice.id


# --- 听留言: a secretary listens ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Speaker:
    """A member in the listener's scope, and how many of their voice messages are kept."""

    member_id: int
    number: str
    name: str
    unit: str
    kept: int


def _cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


async def speakers(
    session: AsyncSession, scope_path: str, now: datetime, days: int, name: str | None = None
) -> list[Speaker]:
    """Members in the scope (by name or member number, or all with kept messages when no name), with how
    many voice messages of theirs are kept."""
    kept = (
        select(Notice.subject_member_id, func.count(NoticeClip.id).label("kept"))
        .join(NoticeClip, NoticeClip.notice_id == Notice.id)
        .where(Notice.kind == "system", Notice.created_at >= _cutoff(now, days))
        .group_by(Notice.subject_member_id)
        .subquery()
    )
    query = (
        select(Member.id, Member.number, Member.name, OrgUnit.path, OrgUnit.name, kept.c.kept)
        .join(OrgUnit, OrgUnit.id == Member.unit_id)
        .outerjoin(kept, kept.c.subject_member_id == Member.id)
        .where(Member.active.is_(True))
        .order_by(Member.id)
    )
    if name:
        query = query.where(or_(Member.name == name, func.upper(Member.number) == name.upper()))
    else:
        query = query.where(kept.c.kept > 0)
    rows = (await session.execute(query)).all()
    return [
        Speaker(member_id, number, member_name, unit, int(count or 0) if days else 0)
        for member_id, number, member_name, path, unit, count in rows
        if within(path, scope_path)
    ]


async def last_listened(session: AsyncSession, actor: str, now: datetime, days: int) -> int | None:
    """The member this listener last listened to (within the retention), for a bare `听留言`."""
    entry = await session.scalar(
        select(AuditEntry.detail)
        .where(
            AuditEntry.actor == actor,
            AuditEntry.action == AUDIT_ACTION,
            AuditEntry.at >= _cutoff(now, days),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    member_id = (entry or {}).get("member_id")
    return int(member_id) if member_id is not None else None


class Outcome(StrEnum):
    PLAY = "play"  # a clip to play
    DONE = "done"  # every kept message was played; the next request starts again
    NONE = "none"  # no voice messages from this member
    NOT_KEPT = "not_kept"  # voice messages, but no audio kept (no consent, or not saved)
    EXPIRED = "expired"  # the audio was deleted after the retention
    UNAVAILABLE = "unavailable"  # kept, but it could not be uploaded to WeChat now


@dataclass(frozen=True, slots=True)
class Played:
    outcome: Outcome
    media_id: str | None = None
    number: int = 0  # which of the kept messages (1-based)
    total: int = 0


async def play_next(
    db: Database,
    voice: NoticeVoice,
    *,
    speaker: Speaker,
    actor: str,
    now: datetime,
    days: int,
) -> Played:
    """The next of the member's kept voice messages for this listener (after the one they heard last),
    uploaded as temporary media for a passive voice reply; the play is audited."""
    cutoff = _cutoff(now, days)
    async with db.read() as session:
        clips = (
            await session.execute(
                select(NoticeClip.id, NoticeClip.media_id, NoticeClip.uploaded_at)
                .join(Notice, Notice.id == NoticeClip.notice_id)
                .where(
                    Notice.kind == "system",
                    Notice.subject_member_id == speaker.member_id,
                    Notice.created_at >= cutoff,
                )
                .order_by(Notice.created_at, Notice.id, NoticeClip.seq)
            )
        ).all()
        if not clips or not days:
            return Played(await _why_none(session, speaker.member_id, cutoff, days))
        last = await session.scalar(
            select(AuditEntry.detail)
            .where(
                AuditEntry.actor == actor,
                AuditEntry.action == AUDIT_ACTION,
                AuditEntry.scope == speaker.number,
            )
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
    heard = (last or {}).get("clip")
    ids = [clip_id for clip_id, _, _ in clips]
    position = ids.index(heard) + 1 if heard in ids else 0
    detail: dict[str, object] = {"member_id": speaker.member_id, "unit": speaker.unit}
    if position >= len(clips):
        await db.run(lambda s: audit.record(s, now, actor, AUDIT_ACTION, speaker.number, **detail, clip=None))
        return Played(Outcome.DONE, total=len(clips))
    clip_id, media_id, uploaded_at = clips[position]
    if not (media_id and uploaded_at and now - uploaded_at < MEDIA_FRESH):
        async with db.read() as session:
            data = await session.scalar(select(NoticeClip.audio).where(NoticeClip.id == clip_id))
        try:
            media_id = await voice.upload(clip_id, bytes(data or b""), now)
        except WeChatError:
            return Played(Outcome.UNAVAILABLE, total=len(clips))
    await db.run(lambda s: audit.record(s, now, actor, AUDIT_ACTION, speaker.number, **detail, clip=clip_id))
    return Played(Outcome.PLAY, media_id, position + 1, len(clips))


async def _why_none(session: AsyncSession, member_id: int, cutoff: datetime, days: int) -> Outcome:
    """No kept audio: never a voice message, none kept (no consent), or deleted after the retention."""
    told = (
        await session.execute(
            select(Notice.created_at).where(Notice.kind == "system", Notice.subject_member_id == member_id)
        )
    ).all()
    if not told:
        return Outcome.NONE
    consent = await session.scalar(select(Member.voice_keep_consent).where(Member.id == member_id))
    if not days or consent is not True:
        return Outcome.NOT_KEPT
    if all(at < cutoff for (at,) in told):
        return Outcome.EXPIRED
    return Outcome.NOT_KEPT
