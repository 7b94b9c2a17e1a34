"""study_push: new material of 学习园地 goes to its audience weekly (PARTYBOT_STUDY_PUSH_WEEKDAY and _TIME).

As of a moment: the folders are indexed (a file added while no server ran counts too), then every material
not pushed yet that is new (bot.domain.study.due_for_push) is pushed — one notice each, one outbox row per
member of its audience (elderly and voice-mode members also get it read aloud), keyed `study_push:{material}
:{version}`. Running it again as of the same moment changes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.domain import study
from bot.settings import Settings
from scheduler.jobs.base import JobDeps


def push_cron(settings: Settings) -> dict[str, Any]:
    """The weekly moment, as CronTrigger fields in the settings' time zone."""
    at = settings.study_push_time
    return {"day_of_week": settings.study_push_weekday, "hour": at.hour, "minute": at.minute}


async def study_push(deps: JobDeps, now: datetime) -> str:
    await study.sync_all(deps.db, deps.settings.study_dir, now)
    content, limit = deps.content, deps.settings.study_push_max

    def push(session: Session) -> list[int]:
        sent = []
        for material in study.due_for_push(session, now, limit):
            summary = study.push_summary(material.summary)
            text = content.text("study_push", title=material.title, summary=summary + "\n" if summary else "")
            sent.append(study.push(session, material.id, text, now))
        return sent

    sent = await deps.db.run(push)
    return f"materials {len(sent)}, recipients {sum(sent)}"
