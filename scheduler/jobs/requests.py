"""居民诉求's timed work. `request_deadlines` (every 10 minutes): the reminders at 80 % of the time, the
escalations to the grid branch's secretary and then the community's (吹哨), the rating reminder and the
unrated close (bot.domain.request_deadlines), in chunks of short transactions; each step once per ticket,
so running twice, or again after a restart, writes nothing new. `request_photos`: download the photos of
tickets from WeChat (its media lives 3 days) into the data folder (`requests/{ticket}/{seq}.jpg` under
PARTYBOT_DATA_DIR), and delete files older than PARTYBOT_REQUEST_PHOTO_RETENTION_DAYS."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from bot.domain.request_deadlines import Lookups, StepCounts, due_steps
from bot.domain.request_tickets import mark_photo, pending_photos, photos_past_retention
from bot.domain.requests import RequestRules
from bot.wechat.errors import WeChatError
from scheduler.jobs.base import JobDeps

log = logging.getLogger(__name__)


async def request_deadlines(deps: JobDeps, now: datetime) -> str:
    rules = RequestRules.from_settings(deps.settings, deps.holidays)

    def say(key: str, **values: Any) -> str:
        return deps.content.text(key, **values)

    total, lookups = StepCounts(), Lookups()
    after = 0
    while True:
        batch = await deps.db.run(
            partial(due_steps, now=now, rules=rules, say=say, after_id=after, lookups=lookups)
        )
        total.add(batch)
        if batch.seen == 0:
            break
        after = batch.last_id
    return (
        f"reminded {total.reminded}, escalated {total.escalated}, rating reminders {total.rate_reminded}, "
        f"closed unrated {total.closed_unrated}"
    )


async def request_photos(deps: JobDeps, now: datetime) -> str:
    root = Path(deps.settings.data_dir)
    stored = expired = waiting = deleted = 0
    if deps.gateway is not None:
        for photo in await deps.db.run(pending_photos):
            try:
                body = await deps.gateway.get_media(photo.media_id)
            except WeChatError as exc:
                if photo.lost(now):
                    if await deps.db.run(partial(mark_photo, photo_id=photo.id, status="expired", now=now)):
                        expired += 1
                        log.warning(
                            "request photo expired before it could be downloaded",
                            extra={"ticket": photo.ticket_id, "seq": photo.seq, "error": str(exc)},
                        )
                else:
                    waiting += 1
                continue
            _write(root / photo.path, body)
            if await deps.db.run(
                partial(mark_photo, photo_id=photo.id, status="stored", now=now, path=photo.path)
            ):
                stored += 1
    days = deps.settings.request_photo_retention_days
    for photo_id, path in await deps.db.run(partial(photos_past_retention, now=now, days=days)):
        (root / path).unlink(missing_ok=True)
        if await deps.db.run(partial(mark_photo, photo_id=photo_id, status="deleted", now=now)):
            deleted += 1
    return f"stored {stored}, expired {expired}, waiting {waiting}, deleted {deleted}"


def _write(path: Path, body: bytes) -> None:
    """Whole or not at all: a temporary file beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_bytes(body)
    os.replace(part, path)
