"""The demo exercises 党费: most members paid up to last month, one is 1 month behind, one 3, one 6+ (the
Art. 9 alert when the reminders run), and one 已交 waits for the secretary."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.content import load_content
from bot.dev.demo import demo_settings, seed_demo
from bot.dev.demo_dues import DEMO_DUES_MONTHS, seed_dues
from bot.domain import dues
from bot.settings import AccountKind
from models import Member, Notice
from models.db import Database
from models.migrate import upgrade
from scheduler.jobs import JobDeps, job_named


async def test_the_demo_has_members_paid_up_behind_and_waiting(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path, "127.0.0.1", 1, 2, "a" * 43, AccountKind.SERVICE)
    await upgrade(settings.database_url)
    now = datetime.now(UTC)  # the demo's dues start DEMO_DUES_MONTHS before today
    assert await seed_demo(settings, now)
    done = await seed_dues(settings, now)
    assert done["claims"] == 1 and done["months"] > 30 * (DEMO_DUES_MONTHS - 1)
    db = Database(settings.database_url)
    try:
        month = dues.local_month(now, settings.timezone)
        start = settings.dues_start_month or ""

        def read(session: Session) -> tuple[dues.Collection, dict[str, dues.Standing]]:
            ids = dict(session.execute(select(Member.number, Member.id)).all())
            standing = partial(dues.standing, session, now=now, start=start, timezone=settings.timezone)
            found = {n: standing(ids[n], rounding="half_up") for n in ("YX-004", "YX-005", "YX-008")}
            return dues.collection(session, "", month, start=start, rounding="half_up"), found

        async with db.read() as session:
            collection, standing = await session.run_sync(read)
        runs = {line.number: line.run for line in collection.lines}
        assert runs["YX-014"] >= 6 and runs["YX-011"] == 3 and runs["YX-005"] == 1
        assert {n for n, r in runs.items() if r} == {"YX-005", "YX-011", "YX-014"}
        assert standing["YX-004"].arrears == [] and not standing["YX-004"].paid_this_month
        assert [d.month for d in standing["YX-005"].arrears] == [dues.add_months(month, -1)]
        assert standing["YX-008"].pending == [month]

        reminded_at = datetime(int(month[:4]), int(month[5:7]), 5, 1, 0, tzinfo=UTC)  # the 5th, 09:00
        await job_named("dues_reminders").run(JobDeps(db, settings, load_content()), reminded_at)
        async with db.read() as session:
            alerts = list(
                await session.scalars(select(Notice.text).where(Notice.author.like("dues:%:alert")))
            )
        assert len(alerts) == 1 and alerts[0].startswith("【党费预警】黄志勇（5号楼党小组）已连续")
    finally:
        await db.dispose()
