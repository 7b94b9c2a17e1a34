"""What every scheduled job is: a plain async function of explicit dependencies and the moment it runs
"as of", and its entry in the registry (scheduler.jobs.JOBS)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.content import Content
from bot.settings import Settings
from bot.wechat.gateway import WeChatGateway
from models.db import Database


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
