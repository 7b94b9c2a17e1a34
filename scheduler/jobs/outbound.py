"""Jobs of the outbound wing: close what waited too long for a next message, relay notices elderly members
have not received in time, and upload again voice clips before WeChat's 3 days run out. They only write rows
or enqueue; the delivery worker sends."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.domain.members import voice_on
from bot.outbound.media import MEDIA_FRESH, NoticeVoice
from bot.outbound.notices import relay
from models import Member, NoticeClip, OutboxRow, OutboxStatus
from scheduler.jobs.base import JobDeps


async def expire_waiting_replies(deps: JobDeps, now: datetime) -> str:
    """Anything still waiting for the user's next message after N days is stale (a late answer, a
    notice, its voice): close it rather than surprise them with it later."""
    days = deps.settings.waiting_reply_max_days
    cutoff = now - timedelta(days=days)
    statement = (
        update(OutboxRow)
        .where(
            OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value,
            OutboxRow.created_at < cutoff,
        )
        .values(
            status=OutboxStatus.FAILED.value,
            updated_at=now,
            last_error=f"expired: nothing written within {days} days",
        )
    )
    result = await deps.db.run(lambda session: session.execute(statement))
    return f"expired {int(getattr(result, 'rowcount', 0) or 0)}"


async def relay_unreached(deps: JobDeps, now: datetime) -> str:
    """An elderly member's notice still waiting for their next message after PARTYBOT_RELAY_AFTER_H: ask
    their helper to pass it on (members not bound to WeChat are relayed at once by the worker)."""
    cutoff = now - timedelta(hours=deps.settings.relay_after_h)

    def run(session: Session) -> dict[str, int]:
        rows = session.execute(
            select(OutboxRow.id, Member)
            .join(Member, Member.id == OutboxRow.member_id)
            .where(
                OutboxRow.kind == "notice",
                OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value,
                OutboxRow.created_at <= cutoff,
            )
            .order_by(OutboxRow.id)
        ).all()
        counts = {"relayed": 0, "failed": 0}
        for row_id, member in rows:
            if not voice_on(member, now.year):
                continue
            status = relay(session, row_id, deps.content.text, now)
            counts["relayed" if status is OutboxStatus.RELAYED else "failed"] += 1
        return counts

    counts = await deps.db.run(run)
    return f"relayed {counts['relayed']}, nobody to relay {counts['failed']}"


async def refresh_voice_media(deps: JobDeps, now: datetime) -> str:
    """WeChat keeps temporary media 3 days: upload again the clips of notices whose voice is still to go
    out (rows queued or waiting), before they lapse."""
    if deps.gateway is None:
        return "no gateway"
    stale = now - MEDIA_FRESH
    pending = (OutboxStatus.QUEUED.value, OutboxStatus.WAITING_NEXT_REPLY.value, OutboxStatus.SENDING.value)
    async with deps.db.read() as session:
        clips = (
            await session.execute(
                select(NoticeClip.id, NoticeClip.audio).where(
                    NoticeClip.uploaded_at < stale,
                    NoticeClip.notice_id.in_(
                        select(OutboxRow.notice_id).where(
                            OutboxRow.wants_voice.is_(True), OutboxRow.status.in_(pending)
                        )
                    ),
                )
            )
        ).all()
    voice = NoticeVoice(deps.db, deps.gateway, None, FixedClock(now))
    for clip_id, audio in clips:
        await voice.upload(clip_id, audio, now)
    return f"uploaded again {len(clips)}"
