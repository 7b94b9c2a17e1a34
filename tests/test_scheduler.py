"""The scheduler: exactly one process runs the jobs (a database lease); jobs tidy what they should."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.cli import main
from bot.clock import FixedClock
from bot.content import load_content
from models import BindingAttempt, ConversationState, EarlyJobReport, InboundLog, OutboxRow
from models.db import Database
from scheduler.jobs import JobDeps, job_named
from scheduler.service import Scheduler


async def count(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def old_and_new_rows(db: Database, clock: FixedClock) -> None:
    now = clock.now()

    def add(session: Session) -> None:
        session.add_all(
            [
                ConversationState(
                    openid="o-old",
                    name="bind",
                    data={},
                    expires_at=now - timedelta(minutes=1),
                    updated_at=now,
                ),
                ConversationState(
                    openid="o-new",
                    name="bind",
                    data={},
                    expires_at=now + timedelta(minutes=30),
                    updated_at=now,
                ),
                BindingAttempt(openid="o-x", at=now - timedelta(hours=2)),
                BindingAttempt(openid="o-x", at=now - timedelta(minutes=5)),
                InboundLog(dedupe_key="k1", openid="o-x", kind="text", received_at=now - timedelta(days=31)),
                InboundLog(dedupe_key="k2", openid="o-x", kind="text", received_at=now - timedelta(days=1)),
                # A job report that came before its send was written, and never matched one; and a fresh one.
                EarlyJobReport(msgid="m-old", event="mass", received_at=now - timedelta(days=3)),
                EarlyJobReport(msgid="m-new", event="mass", received_at=now - timedelta(hours=1)),
                OutboxRow(
                    idempotency_key="late:a",
                    openid="o-x",
                    kind="late_reply",
                    status="waiting-next-reply",
                    payload={},
                    created_at=now - timedelta(days=8),
                    updated_at=now,
                ),
                OutboxRow(
                    idempotency_key="late:b",
                    openid="o-x",
                    kind="late_reply",
                    status="waiting-next-reply",
                    payload={},
                    created_at=now - timedelta(days=1),
                    updated_at=now,
                ),
            ]
        )

    await db.run(add)


async def test_exactly_one_of_two_processes_runs_the_jobs(make_settings: Any, clock: FixedClock) -> None:
    settings = make_settings()
    db_a, db_b = Database(settings.database_url), Database(settings.database_url)
    first = Scheduler(JobDeps(db_a, settings, load_content()), clock, "process-a", lease_ttl_s=60)
    second = Scheduler(JobDeps(db_b, settings, load_content()), clock, "process-b", lease_ttl_s=60)
    try:
        await old_and_new_rows(db_a, clock)
        assert await first.renew() is True
        assert await second.renew() is False
        await second._when_leader(job_named("housekeeping"))
        assert await count(db_a, ConversationState) == 2  # the follower did nothing
        await first._when_leader(job_named("housekeeping"))
        assert await count(db_a, ConversationState) == 1

        # The leader dies (stops renewing): once its lease expires the other takes over.
        clock.advance(30)
        assert await second.renew() is False
        clock.advance(31)
        assert await second.renew() is True
        assert await first.renew() is False
        # A graceful stop hands over at once.
        await second.stop()
        assert await first.renew() is True
    finally:
        await db_a.dispose()
        await db_b.dispose()


async def test_two_started_schedulers_elect_one(make_settings: Any, clock: FixedClock) -> None:
    settings = make_settings()
    dbs = [Database(settings.database_url) for _ in range(2)]
    schedulers = [
        Scheduler(JobDeps(db, settings, load_content()), clock, f"p{i}") for i, db in enumerate(dbs)
    ]
    try:
        await asyncio.gather(*(s.start() for s in schedulers))
        assert sorted(s.lease.held for s in schedulers) == [False, True]
    finally:
        for s in schedulers:
            await s.stop()
        for db in dbs:
            await db.dispose()


async def test_jobs_keep_data_only_as_long_as_it_serves(make_settings: Any, clock: FixedClock) -> None:
    settings = make_settings()
    db = Database(settings.database_url)
    try:
        await old_and_new_rows(db, clock)
        deps = JobDeps(db, settings, load_content())
        summary = await job_named("housekeeping").run(deps, clock.now())
        assert summary == (
            "conversations 1, binding_attempts 1, binding_codes 0, inbound_log 1, early_job_reports 1, "
            "identity_changes 0, voice_messages 0, precise_locations 0"
        )
        assert (await count(db, BindingAttempt), await count(db, InboundLog)) == (1, 1)
        assert await count(db, EarlyJobReport) == 1
        assert await job_named("expire_waiting_replies").run(deps, clock.now()) == "expired 1"
        async with db.read() as session:
            statuses = dict(
                (await session.execute(select(OutboxRow.idempotency_key, OutboxRow.status))).all()
            )
        assert statuses == {"late:a": "failed", "late:b": "waiting-next-reply"}
        # Idempotent: running again changes nothing.
        assert await job_named("expire_waiting_replies").run(deps, clock.now()) == "expired 0"
    finally:
        await db.dispose()


def test_jobs_cli(database_url: str) -> None:
    env = {"PARTYBOT_DATABASE_URL": database_url, "PARTYBOT_WECHAT_TOKEN": "cli-token"}
    runner = CliRunner()
    listed = runner.invoke(main, ["jobs"], env=env)
    assert (
        listed.exit_code == 0
        and "housekeeping" in listed.output
        and "expire_waiting_replies" in listed.output
    )
    # The next runs in Beijing time, with the offset (the CLI's one format for a moment).
    next_run = r"housekeeping +下次运行 \d{4}-\d\d-\d\d \d\d:\d\d \+08:00 +删除过期的会话"
    assert re.search(next_run, listed.output), listed.output
    ran = runner.invoke(main, ["jobs", "run", "housekeeping", "--now", "2026-12-18T09:00"], env=env)
    assert ran.exit_code == 0 and ran.output.startswith("housekeeping（按 2026-12-18 09:00 +08:00 运行）：")
    # A moment given in UTC is shown in Beijing time.
    utc = runner.invoke(main, ["jobs", "run", "housekeeping", "--now", "2026-12-18T01:00+00:00"], env=env)
    assert utc.exit_code == 0 and utc.output.startswith("housekeeping（按 2026-12-18 09:00 +08:00 运行）：")
    unknown = runner.invoke(main, ["jobs", "run", "nothing"], env=env)
    assert unknown.exit_code == 2 and "没有名为 nothing 的任务" in unknown.output
    bad = runner.invoke(main, ["jobs", "run", "housekeeping", "--now", "明天"], env=env)
    assert bad.exit_code == 2 and "--now 应为日期和时间" in bad.output and "明天" in bad.output
