"""The scheduled jobs: plain async functions of explicit dependencies and the moment they run "as of".

Each is idempotent, so re-running one or catching up after downtime is safe (DESIGN.md, Scheduler).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.content import Content
from bot.outbound.worker import MEDIA_FRESH, NoticeVoice, relay
from bot.settings import Settings
from bot.wechat.gateway import WeChatGateway
from models import (
    BindingAttempt,
    BindingCode,
    ConversationState,
    InboundLog,
    Member,
    Notice,
    NoticeClip,
    OutboxRow,
    OutboxStatus,
)
from models.db import Database
from models.org import voice_on


@dataclass(frozen=True, slots=True)
class JobDeps:
    db: Database
    settings: Settings
    content: Content
    gateway: WeChatGateway | None = None  # jobs that call WeChat (media re-upload) need one


JobFunction = Callable[[JobDeps, datetime], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    description: str
    cron: dict[str, Any]  # APScheduler CronTrigger fields, in the settings' time zone
    run: JobFunction


async def housekeeping(deps: JobDeps, now: datetime) -> str:
    """Data kept only as long as it serves (DOMAIN.md, personal information): expired conversations, old
    binding attempts and codes, and the inbound log past its retention period."""
    retention = now - timedelta(days=deps.settings.inbound_retention_days)
    voice_cutoff = now - timedelta(days=deps.settings.voice_retention_days)

    def tidy(session: Session) -> dict[str, int]:
        counts = {}
        for label, statement in (
            ("conversations", delete(ConversationState).where(ConversationState.expires_at < now)),
            ("binding_attempts", delete(BindingAttempt).where(BindingAttempt.at < now - timedelta(hours=1))),
            ("binding_codes", delete(BindingCode).where(BindingCode.expires_at < now - timedelta(days=30))),
            ("inbound_log", delete(InboundLog).where(InboundLog.received_at < retention)),
            # Members' own voice messages kept for their secretary (with consent), past their retention.
            (
                "voice_messages",
                delete(NoticeClip).where(
                    NoticeClip.notice_id.in_(
                        select(Notice.id).where(Notice.kind == "system", Notice.created_at < voice_cutoff)
                    )
                ),
            ),
        ):
            counts[label] = int(getattr(session.execute(statement), "rowcount", 0) or 0)
        return counts

    counts = await deps.db.run(tidy)
    return ", ".join(f"{k} {v}" for k, v in counts.items())


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


JOBS: tuple[Job, ...] = (
    Job(
        "relay_unreached",
        "ask helpers to pass on notices elderly members have not received in time",
        {"minute": "*/10"},
        relay_unreached,
    ),
    Job(
        "refresh_voice_media",
        "upload again voice clips older than WeChat's 3 days that are still to be sent",
        {"minute": 17},
        refresh_voice_media,
    ),
    Job(
        "housekeeping",
        "delete expired conversations, old binding attempts and codes, old inbound log and voice messages",
        {"minute": "*/10"},
        housekeeping,
    ),
    Job(
        "expire_waiting_replies",
        "close late answers and notices that waited too long for the user's next message",
        {"hour": 3, "minute": 30},
        expire_waiting_replies,
    ),
)


def job_named(name: str) -> Job:
    for job in JOBS:
        if job.name == name:
            return job
    raise KeyError(name)
