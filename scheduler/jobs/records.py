"""record_photos: the photos of records (组织生活纪实) are WeChat's temporary media, kept by WeChat 3 days;
download every pending one into the data folder (`records/{event}/{seq}.jpg` under PARTYBOT_DATA_DIR) and
mark it stored; one that could not be fetched and is older than 3 days is marked expired (logged).
Idempotent: a stored or expired photo is not looked at again; a file is written whole or not at all."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from functools import partial
from pathlib import Path

from bot.domain.records import mark_expired, mark_stored, pending_photos
from bot.wechat.errors import WeChatError
from scheduler.jobs.base import JobDeps

log = logging.getLogger(__name__)


async def record_photos(deps: JobDeps, now: datetime) -> str:
    if deps.gateway is None:
        return "no gateway"
    pending = await deps.db.run(pending_photos)
    if not pending:
        return "stored 0, expired 0, waiting 0"
    root = Path(deps.settings.data_dir)
    stored = expired = waiting = 0
    for photo in pending:
        try:
            body = await deps.gateway.get_media(photo.media_id)
        except WeChatError as exc:
            if photo.lost(now):
                if await deps.db.run(partial(mark_expired, photo_id=photo.id)):
                    expired += 1
                    log.warning(
                        "record photo expired before it could be downloaded",
                        extra={"event": photo.event_id, "seq": photo.seq, "error": str(exc)},
                    )
            else:
                waiting += 1
                log.info(
                    "record photo not downloaded yet; will retry",
                    extra={"event": photo.event_id, "seq": photo.seq, "error": str(exc)},
                )
            continue
        _write(root / photo.path, body)
        if await deps.db.run(partial(mark_stored, photo_id=photo.id, path=photo.path, now=now)):
            stored += 1
    return f"stored {stored}, expired {expired}, waiting {waiting}"


def _write(path: Path, body: bytes) -> None:
    """Whole or not at all: a temporary file beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(body)
    os.replace(partial, path)
