"""The outbox survives `kill -9` (DESIGN.md, Outbound delivery): a real `partybot worker` delivering a
broadcast through a real `partybot fake-wechat` is killed halfway and started again. Afterwards every row
is final, each acknowledged (`sent`) row reached its member exactly once, and the rows in doubt are no more
than the calls that were in flight. And on PostgreSQL two workers share one broadcast without sending
anything twice.

Processes are real, so waiting for them is bounded polling of the database (as in test_serve_process).
The worker's lease is 1 s here (PARTYBOT_DELIVERY_LEASE_S): a row still `sending` once its lease has run
out is settled as in doubt, and rows claimed but not started go back to the queue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.cli.outbound import make_stack_worker, outbound_stack
from models import OutboxStatus
from models.db import Database
from tests.conftest import PG_URL, REDIS_URL, require
from tests.outbox_load import (
    FINAL,
    Broadcast,
    Fake,
    LoadConfig,
    Process,
    custom_send_counts,
    failed_without_reason,
    load_openid,
    openids_by_status,
    poll,
    seed_broadcast,
    stable_counts,
    start_fake,
    start_worker,
    status_counts,
    unsettled,
)

RECIPIENTS = 2000
CONCURRENCY = 20  # calls in flight at most: the bound on rows in doubt
LATENCY_S = 0.01  # per API call, in the fake
RATE_PER_S = 1000.0  # above what the worker reaches here: the rate limiter is not what is tested
LEASE_S = 1.0

SENT = OutboxStatus.SENT.value
SENDING = OutboxStatus.SENDING.value
IN_DOUBT = OutboxStatus.IN_DOUBT.value


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str | None]:
    """On PostgreSQL with Redis (the multi-process deployment shares rates and the token there): a prefix
    of this test's own, its keys deleted afterwards. None: no Redis."""
    if PG_URL is None or REDIS_URL is None:
        yield None
        return
    prefix = f"pbtest:{uuid.uuid4().hex[:8]}:"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def load_config(
    database_url: str, redis_prefix: str | None, batch: int | None = None, lease_s: float | None = LEASE_S
) -> LoadConfig:
    return LoadConfig(
        database_url=database_url,
        concurrency=CONCURRENCY,
        rate_per_s=RATE_PER_S,
        lease_s=lease_s,
        batch=batch,
        redis_url=REDIS_URL if redis_prefix else None,
        redis_prefix=redis_prefix,
    )


async def seeded(db: Database) -> Broadcast:
    # The worker runs on the system clock: the allowances open at the real now, not at the tests' T0.
    return await seed_broadcast(db, RECIPIENTS, datetime.now(UTC))


async def fake_and_broadcast(
    http: aiohttp.ClientSession, db: Database, config: LoadConfig, workdir: Path
) -> tuple[Fake, Broadcast]:
    """The fake WeChat started while the database is seeded (each takes a second or two)."""
    followers = [load_openid(i) for i in range(RECIPIENTS)]
    fake, broadcast = await asyncio.gather(
        start_fake(http, config, workdir, latency_s=LATENCY_S, followers=followers),
        seeded(db),
        return_exceptions=True,
    )
    if isinstance(broadcast, BaseException):
        if isinstance(fake, Fake):
            await fake.process.stop()
        raise broadcast
    if isinstance(fake, BaseException):
        raise fake
    assert broadcast.openids == followers
    return fake, broadcast


async def test_a_worker_killed_halfway_leaves_no_duplicates_and_no_more_doubt_than_calls_in_flight(
    db: Database, database_url: str, redis_prefix: str | None, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    config = load_config(database_url, redis_prefix)
    fake, broadcast = await fake_and_broadcast(http, db, config, tmp_path)
    processes: list[Process] = [fake.process]
    try:
        first = await start_worker(config, fake, tmp_path, "worker-1")
        processes.append(first)
        at_kill = await kill_halfway(db, broadcast, first)

        # Killed halfway, with at most one wave of calls in flight.
        assert RECIPIENTS // 2 <= at_kill[SENT] < RECIPIENTS, at_kill
        assert at_kill[SENDING] <= CONCURRENCY, at_kill

        second = await start_worker(config, fake, tmp_path, "worker-2")
        processes.append(second)

        async def settled() -> bool:
            return unsettled(await status_counts(db, broadcast.notice_id)) == 0

        await poll(settled, timeout_s=60, interval_s=0.1, watch=[second], what="every row final")
        assert await second.stop() == 0, second.log_tail()
        for worker in (first, second):
            assert "Traceback" not in worker.log_text(), worker.log_text()
        final = await status_counts(db, broadcast.notice_id)
        by_status = await openids_by_status(db, broadcast.notice_id)
        sends = await custom_send_counts(http, fake.base)
    finally:
        for process in processes:
            await process.stop()

    # Every row is final: sent, failed with a reason, or in doubt; none left queued or sending.
    assert sum(final.values()) == RECIPIENTS
    assert set(final) <= FINAL, final
    assert await failed_without_reason(db, broadcast.notice_id) == 0
    # In doubt: exactly the rows whose call was in flight when the worker died, so at most one wave.
    assert final[IN_DOUBT] == at_kill[SENDING] <= CONCURRENCY, (final, at_kill)
    # Everybody inside the allowance was reached, except those in doubt.
    assert final[SENT] == RECIPIENTS - final[IN_DOUBT], final

    # Each acknowledged row reached its member exactly once.
    sent = by_status[SENT]
    assert {openid: sends[openid] for openid in sent if sends[openid] != 1} == {}
    # An in-doubt row was sent once or not at all, and nobody else was written to.
    assert all(sends[openid] <= 1 for openid in by_status.get(IN_DOUBT, set()))
    assert set(sends) <= set(broadcast.openids)
    assert sum(sends.values()) <= final[SENT] + final[IN_DOUBT]


async def kill_halfway(db: Database, broadcast: Broadcast, worker: Process) -> dict[str, int]:
    """SIGKILL the worker once half the rows are sent, preferably while a wave of calls is in flight (rows
    committed `sending`); the rows by status right after."""

    async def nearly() -> bool:
        return (await status_counts(db, broadcast.notice_id))[SENT] >= RECIPIENTS * 0.4

    async def halfway() -> bool:
        counts = await status_counts(db, broadcast.notice_id)
        return counts[SENT] >= RECIPIENTS // 2 and (counts[SENDING] > 0 or counts[SENT] >= RECIPIENTS * 0.7)

    # Gently at first (the machine's cores are the worker's and the fake's), closely near the point.
    await poll(nearly, timeout_s=60, interval_s=0.1, watch=[worker], what="40 % of the rows sent")
    await poll(halfway, timeout_s=60, interval_s=0.005, watch=[worker], what="half the rows sent")
    await worker.kill()
    return dict(await stable_counts(db, broadcast.notice_id))


@pytest.mark.skipif(
    PG_URL is None,
    reason="several workers share the outbox through PostgreSQL's FOR UPDATE SKIP LOCKED; the embedded "
    "SQLite mode runs one in-process worker (set PARTYBOT_TEST_DATABASE_URL to run this)",
)
async def test_b_two_workers_share_one_broadcast_on_postgresql_without_duplicates(
    db: Database, database_url: str, redis_prefix: str | None, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # Several workers are the street/city deployment, which shares the token and the rates through Redis.
    require("Redis", REDIS_URL is not None, "set PARTYBOT_TEST_REDIS_URL=redis://127.0.0.1:6379/0")
    # Small batches, so the two workers' claims interleave many times. The lease stays long (the
    # setting's default): with two workers it must outlast a batch's calls.
    config = load_config(database_url, redis_prefix, batch=50, lease_s=None)
    fake, broadcast = await fake_and_broadcast(http, db, config, tmp_path)
    try:
        handled = await two_workers_drain(config, fake)
        final = await status_counts(db, broadcast.notice_id)
        sends = await custom_send_counts(http, fake.base)
    finally:
        await fake.process.stop()

    assert dict(final) == {SENT: RECIPIENTS}
    # Each row was claimed by one worker only (drain counts the rows it handled), and both worked.
    assert sum(handled) == RECIPIENTS, handled
    assert min(handled) >= RECIPIENTS // 10, handled
    # Every member got the notice exactly once.
    assert set(sends) == set(broadcast.openids)
    assert {openid: n for openid, n in sends.items() if n != 1} == {}


async def two_workers_drain(config: LoadConfig, fake: Fake) -> list[int]:
    """Two delivery workers as `partybot worker` builds them, each with its own database engine, HTTP
    session and gateway, draining the same outbox at the same time; the rows each handled."""
    settings = config.settings(fake.base)
    async with outbound_stack(settings) as one, outbound_stack(settings) as two:
        workers = [make_stack_worker(one, "load-worker-1"), make_stack_worker(two, "load-worker-2")]
        return list(await asyncio.gather(*(w.drain() for w in workers)))
