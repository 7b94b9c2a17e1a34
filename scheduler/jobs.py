"""The scheduled jobs: plain async functions of explicit dependencies and the moment they run "as of".

Each is idempotent, so re-running one or catching up after downtime is safe (DESIGN.md, Scheduler).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from bot.settings import Settings
from models import BindingAttempt, BindingCode, ConversationState, InboundLog, OutboxRow, OutboxStatus
from models.db import Database


@dataclass(frozen=True, slots=True)
class JobDeps:
    db: Database
    settings: Settings


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

    def tidy(session: Session) -> dict[str, int]:
        counts = {}
        for label, statement in (
            ("conversations", delete(ConversationState).where(ConversationState.expires_at < now)),
            ("binding_attempts", delete(BindingAttempt).where(BindingAttempt.at < now - timedelta(hours=1))),
            ("binding_codes", delete(BindingCode).where(BindingCode.expires_at < now - timedelta(days=30))),
            ("inbound_log", delete(InboundLog).where(InboundLog.received_at < retention)),
        ):
            counts[label] = int(getattr(session.execute(statement), "rowcount", 0) or 0)
        return counts

    counts = await deps.db.run(tidy)
    return ", ".join(f"{k} {v}" for k, v in counts.items())


async def expire_waiting_replies(deps: JobDeps, now: datetime) -> str:
    """A late answer still waiting for the user's next message after N days is stale: close it rather
    than surprise them with it later."""
    cutoff = now - timedelta(days=deps.settings.waiting_reply_max_days)
    statement = (
        update(OutboxRow)
        .where(
            OutboxRow.kind == "late_reply",
            OutboxRow.status == OutboxStatus.WAITING_NEXT_REPLY.value,
            OutboxRow.created_at < cutoff,
        )
        .values(
            status=OutboxStatus.FAILED.value,
            updated_at=now,
            last_error=f"expired: the user wrote nothing within {deps.settings.waiting_reply_max_days} days",
        )
    )
    result = await deps.db.run(lambda session: session.execute(statement))
    return f"expired {int(getattr(result, 'rowcount', 0) or 0)}"


JOBS: tuple[Job, ...] = (
    Job(
        "housekeeping",
        "delete expired conversations, old binding attempts and codes, old inbound log",
        {"minute": "*/10"},
        housekeeping,
    ),
    Job(
        "expire_waiting_replies",
        "close late answers that waited too long for the user's next message",
        {"hour": 3, "minute": 30},
        expire_waiting_replies,
    ),
)


def job_named(name: str) -> Job:
    for job in JOBS:
        if job.name == name:
            return job
    raise KeyError(name)
