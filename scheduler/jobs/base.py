"""What every scheduled job is: a plain async function of explicit dependencies and the moment it runs
"as of", and its entry in the registry (scheduler.jobs.JOBS)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.content import Content
from bot.domain.calendar import Holidays
from bot.settings import Settings
from bot.wechat.gateway import WeChatGateway
from models.db import Database


@dataclass(frozen=True, slots=True)
class JobDeps:
    db: Database
    settings: Settings
    content: Content
    gateway: WeChatGateway | None = None  # jobs that call WeChat (media re-upload) need one
    holidays: Holidays = field(default_factory=Holidays.load)  # one per process: it warns once a year


JobFunction = Callable[[JobDeps, datetime], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    description: str
    cron: dict[str, Any]  # APScheduler CronTrigger fields, in the settings' time zone
    run: JobFunction
    # A schedule the settings decide (study_push: PARTYBOT_STUDY_PUSH_WEEKDAY and _TIME); else `cron`.
    cron_from: Callable[[Settings], dict[str, Any]] | None = None

    def schedule(self, settings: Settings | None) -> dict[str, Any]:
        """The CronTrigger fields this job runs on under these settings."""
        return self.cron_from(settings) if self.cron_from is not None and settings is not None else self.cron
