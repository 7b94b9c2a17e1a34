"""Housekeeping: data kept only as long as it serves (DOMAIN.md, personal information)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.domain.mobile import forget_precise
from models import (
    BindingAttempt,
    BindingCode,
    ConversationState,
    EarlyJobReport,
    IdentityChange,
    InboundLog,
    Notice,
    NoticeClip,
)
from scheduler.jobs.base import JobDeps


async def housekeeping(deps: JobDeps, now: datetime) -> str:
    """Data kept only as long as it serves (DOMAIN.md, personal information): expired conversations, old
    binding attempts and codes, the inbound log past its retention period, identity changes every process
    has long read."""
    retention = now - timedelta(days=deps.settings.inbound_retention_days)
    voice_cutoff = now - timedelta(days=deps.settings.voice_retention_days)

    def tidy(session: Session) -> dict[str, int]:
        counts = {}
        for label, statement in (
            ("conversations", delete(ConversationState).where(ConversationState.expires_at < now)),
            ("binding_attempts", delete(BindingAttempt).where(BindingAttempt.at < now - timedelta(hours=1))),
            ("binding_codes", delete(BindingCode).where(BindingCode.expires_at < now - timedelta(days=30))),
            ("inbound_log", delete(InboundLog).where(InboundLog.received_at < retention)),
            # Every process reads identity changes within seconds (PARTYBOT_IDENTITY_POLL_S); one started
            # later reads everyone afresh. A day is ample.
            # WeChat's job reports that came before their send was written and never matched one.
            (
                "early_job_reports",
                delete(EarlyJobReport).where(EarlyJobReport.received_at < now - timedelta(days=2)),
            ),
            ("identity_changes", delete(IdentityChange).where(IdentityChange.at < now - timedelta(days=1))),
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
        # 流动党员 report-ins: precise coordinates (kept with consent) past their days.
        counts["precise_locations"] = forget_precise(session, now)
        return counts

    counts = await deps.db.run(tidy)
    return ", ".join(f"{k} {v}" for k, v in counts.items())
