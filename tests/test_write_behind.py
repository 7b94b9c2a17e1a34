"""The write-behind buffer loses nothing when the process stops while a flush is being written."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from bot.edge.writebehind import LogEntry, WriteBehind
from bot.metrics import Metrics
from models import InboundLog
from models.db import Database
from tests.conftest import T0


async def test_stopping_during_a_flush_keeps_what_it_was_writing(database_url: str) -> None:
    db = Database(database_url)
    original = db.run
    writing = asyncio.Event()

    async def slow_run(fn: Callable[..., Any]) -> Any:
        writing.set()
        await asyncio.sleep(0.05)  # a commit that takes a moment (the only sleep: it is the point)
        return await original(fn)

    db.run = slow_run  # type: ignore[method-assign]
    buffer = WriteBehind(db, interval_s=0.001, metrics=Metrics())
    try:
        buffer.start()
        buffer.log(LogEntry("m:o-1:1", "o-1", "text", None, "你好", "help.show_menu", 3, False, T0))
        await writing.wait()  # the background flush has taken the entry and is writing it
        await buffer.stop()  # SIGTERM now: the flush must finish, not be cancelled halfway
        async with db.read() as session:
            assert await session.scalar(select(func.count()).select_from(InboundLog)) == 1
    finally:
        await db.dispose()
