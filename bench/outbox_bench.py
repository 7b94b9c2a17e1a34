"""Outbox benchmark (DESIGN.md, Performance targets): a broadcast to 10 000 members, all inside the
customer-service allowance, delivered by a real `partybot worker` through a real `partybot fake-wechat`
that answers every API call after 50 ms, with PARTYBOT_RATE_CUSTOMER_SERVICE_PER_S=200.

Two runs, each on a freshly seeded broadcast:

  clean  the worker delivers the whole broadcast. Target: every row sent within 1.2 × recipients / rate
         (60 s for 10 000 at 200/s), counted from the worker's start; flat memory (the worker's RSS
         sampled as the rows go out, and its peak, VmHWM); no member written to twice.
  kill   the worker is SIGKILLed once half the rows are sent (at a moment a wave of calls is in flight,
         when one comes) and started again. Target: no duplicates among acknowledged (`sent`) rows, rows
         in doubt no more than the calls in flight (PARTYBOT_DELIVERY_CONCURRENCY), every row final. The
         time to finish includes waiting for the dead worker's lease (PARTYBOT_DELIVERY_LEASE_S, 60 s by
         default): its claimed rows and its calls in flight are settled only then.

SQLite by default (a fresh file per run, in a temporary directory); `--database-url` runs on that
PostgreSQL database instead (migrated, and the benchmark's own rows removed before each run). The fake and
the worker are separate processes; this process seeds, polls the database every 0.1 s and reads
/proc/<pid>/status.

    .venv/bin/python bench/outbox_bench.py                        # SQLite, ~3 minutes
    .venv/bin/python bench/outbox_bench.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/outbox_bench.py --recipients 2000 --only clean      # a quick look
    .venv/bin/python bench/outbox_bench.py --only clean --profile  # where the worker's time goes
    .venv/bin/python bench/outbox_bench.py --recipients 50 --latency 0.001 --only clean --smoke  # runs?

`--profile` runs the clean run's worker under cProfile (the event loop's thread) and times the calls that
make up a delivery: database transactions by the function they run (claim, mark `sending`, record the
results, ...), API calls and rate-limiter waits.

`--smoke` checks only that it runs (tests/test_bench.py): every row final, no duplicate, no send to anyone
else, the processes exit cleanly; the time target is not judged (a few dozen rows are mostly start-up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import json
import os
import platform
import pstats
import shlex
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

THIS = Path(__file__).resolve()
ROOT = THIS.parent.parent
sys.path.insert(0, str(ROOT))  # tests.outbox_load: the seeding and process helpers the tests use too

from bot.settings import Settings  # noqa: E402
from models import OutboxRow  # noqa: E402
from models.db import Database  # noqa: E402
from models.migrate import upgrade  # noqa: E402
from tests.outbox_load import (  # noqa: E402
    Broadcast,
    Fake,
    LoadConfig,
    Process,
    clear_load,
    custom_sends,
    failed_without_reason,
    openids_by_status,
    seed_broadcast,
    stable_counts,
    start_fake,
    start_worker,
    status_counts,
    unsettled,
)

SENT, SENDING, IN_DOUBT, FAILED, QUEUED = "sent", "sending", "in-doubt", "failed", "queued"
TARGET_RATIO = 1.2
POLL_S = 0.1
RUN_LIMIT_S = 900.0  # a run that takes longer than this is stopped and reported
DEFAULTS = Settings.model_fields  # the settings' own defaults, for what is not given


def default(name: str) -> Any:
    return DEFAULTS[name].default


# --- one run ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    at_s: float  # since the first worker started
    sent: int
    rss_kb: int


@dataclass(slots=True)
class RunResult:
    name: str
    recipients: int
    seed_s: float
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # the first worker's start
    wall_s: float = 0.0  # first worker started → every row final
    first_send_s: float | None = None  # first worker started → the fake accepted the first send
    span_s: float | None = None  # first → last send the fake accepted
    counts: Counter[str] = field(default_factory=Counter)
    sends: int = 0
    duplicates: int = 0  # acknowledged rows whose member got more than one send
    missing: int = 0  # acknowledged rows whose member got none
    doubt_reached: int = 0  # rows in doubt that did reach their member (once)
    strangers: int = 0  # sends to openids outside the broadcast
    failed_without_reason: int = 0
    peak_rss_kb: int = 0  # highest VmHWM of the worker processes
    samples: list[Sample] = field(default_factory=list)
    worker_cpu_s: float = 0.0
    fake_cpu_s: float = 0.0
    killed_at_s: float | None = None
    at_kill: Counter[str] | None = None
    restart_wall_s: float | None = None  # restart → every row final
    restart_rows_s: float | None = None  # restart → every row final except those waiting for the lease
    problems: list[str] = field(default_factory=list)
    timings: dict[str, list[float]] = field(default_factory=dict)
    profile: str = ""


@dataclass(frozen=True, slots=True)
class Options:
    database_url: str | None
    redis_url: str | None
    recipients: int
    latency_s: float
    rate: float
    concurrency: int
    batch: int | None
    lease_s: float | None
    profile: bool
    smoke: bool = False  # whether it runs, not its figures: the time target is not judged

    @property
    def ideal_s(self) -> float:
        return self.recipients / self.rate

    @property
    def lease(self) -> float:
        return self.lease_s if self.lease_s is not None else float(default("delivery_lease_s"))


class Watch:
    """The worker processes of a run: their memory and CPU, read from /proc while they live."""

    def __init__(self) -> None:
        self.workers: list[Process] = []
        self.peak_kb = 0
        self.cpu_s: dict[int, float] = {}

    def add(self, process: Process) -> None:
        self.workers.append(process)

    def read(self, process: Process) -> int:
        status = process.status()
        self.peak_kb = max(self.peak_kb, status.get("VmHWM", 0))
        cpu = process.cpu_seconds()
        if cpu is not None:
            self.cpu_s[process.pid] = cpu
        return status.get("VmRSS", 0)

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu_s.values())


async def run_once(
    name: str, options: Options, url: str, workdir: Path, http: aiohttp.ClientSession, kill: bool
) -> RunResult:
    db = Database(url)
    try:
        await clear_load(db)
        started = time.monotonic()
        broadcast = await seed_broadcast(db, options.recipients, datetime.now(UTC))
        result = RunResult(name, options.recipients, time.monotonic() - started)
        config = LoadConfig(
            database_url=url,
            concurrency=options.concurrency,
            rate_per_s=options.rate,
            lease_s=options.lease_s,
            batch=options.batch,
            redis_url=options.redis_url,
            redis_prefix=f"pbbench:{os.getpid()}:{name}:" if options.redis_url else None,
        )
        fake = await start_fake(
            http, config, workdir, latency_s=options.latency_s, followers=broadcast.openids
        )
        try:
            await deliver(result, options, config, db, broadcast, fake, workdir, kill)
            await check(result, options, db, broadcast, fake, http, kill)
        finally:
            result.fake_cpu_s = fake.process.cpu_seconds() or 0.0
            await fake.process.stop()
        return result
    finally:
        await db.dispose()


async def deliver(
    result: RunResult,
    options: Options,
    config: LoadConfig,
    db: Database,
    broadcast: Broadcast,
    fake: Fake,
    workdir: Path,
    kill: bool,
) -> None:
    watch = Watch()
    profiled = options.profile and not kill
    timings_path = workdir / f"{result.name}-timings.json"
    argv = [sys.executable, str(THIS), "profiled-worker", str(timings_path)]
    t0 = time.monotonic()
    result.started_at = datetime.now(UTC)
    worker = await start_worker(
        config, fake, workdir, f"{result.name}-worker-1", argv=argv if profiled else None
    )
    watch.add(worker)

    async def progress(stop: Callable[[Counter[str]], bool], interval_s: float = POLL_S) -> Counter[str]:
        while True:
            counts = await status_counts(db, broadcast.notice_id)
            rss = watch.read(watch.workers[-1])
            result.samples.append(Sample(time.monotonic() - t0, counts[SENT], rss))
            if stop(counts):
                return counts
            if not watch.workers[-1].running:
                raise RuntimeError(
                    f"{watch.workers[-1].name} exited with {watch.workers[-1].proc.returncode}:\n"
                    f"{watch.workers[-1].log_tail()}"
                )
            if time.monotonic() - t0 > RUN_LIMIT_S:
                raise RuntimeError(f"the run took more than {RUN_LIMIT_S:.0f} s: {dict(counts)}")
            await asyncio.sleep(interval_s)

    try:
        if kill:
            half = options.recipients // 2
            await progress(lambda c: c[SENT] >= half * 0.9)
            # Close to half: kill when a wave is marked `sending` (calls in flight), else a little past.
            await progress(
                lambda c: c[SENT] >= half and (c[SENDING] > 0 or c[SENT] >= options.recipients * 0.6), 0.005
            )
            watch.read(worker)
            await worker.kill()
            result.killed_at_s = time.monotonic() - t0
            result.at_kill = await stable_counts(db, broadcast.notice_id)
            # Rows the dead worker held (claimed, or `sending`) wait for its lease; the rest go at once.
            held = await held_by_dead_lease(db, broadcast.notice_id)
            restarted = time.monotonic()
            worker = await start_worker(config, fake, workdir, f"{result.name}-worker-2")
            watch.add(worker)
            await progress(lambda c: unsettled(c) <= held)
            result.restart_rows_s = time.monotonic() - restarted
            await progress(lambda c: unsettled(c) == 0)
            result.restart_wall_s = time.monotonic() - restarted
        else:
            await progress(lambda c: unsettled(c) == 0)
        result.wall_s = time.monotonic() - t0
        watch.read(worker)
        code = await worker.stop()
        if code != 0:
            result.problems.append(f"the worker exited with {code} on SIGTERM:\n{worker.log_tail()}")
    finally:
        for process in watch.workers:
            await process.stop()
    result.peak_rss_kb = watch.peak_kb
    result.worker_cpu_s = watch.cpu_total
    if profiled:
        loaded = json.loads(timings_path.read_text())
        result.timings = loaded["timings"]
        result.profile = loaded["profile"]


async def held_by_dead_lease(db: Database, notice_id: int) -> int:
    """Rows still queued or sending under a lease (the dead worker's): they wait for it to run out."""
    async with db.read() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.notice_id == notice_id,
                    OutboxRow.status.in_([QUEUED, SENDING]),
                    OutboxRow.lease_owner.is_not(None),
                )
            )
            or 0
        )


async def check(
    result: RunResult,
    options: Options,
    db: Database,
    broadcast: Broadcast,
    fake: Fake,
    http: aiohttp.ClientSession,
    kill: bool,
) -> None:
    result.counts = await status_counts(db, broadcast.notice_id)
    by_status = await openids_by_status(db, broadcast.notice_id)
    sends = await custom_sends(http, fake.base)
    result.sends = len(sends)
    per_openid = Counter(str(s["openid"]) for s in sends)
    if sends:
        times = [datetime.fromisoformat(str(s["at"])) for s in sends]
        result.span_s = (max(times) - min(times)).total_seconds()
        result.first_send_s = (min(times) - result.started_at).total_seconds()
    acknowledged = by_status.get(SENT, set())
    result.duplicates = sum(1 for openid in acknowledged if per_openid[openid] > 1)
    result.missing = sum(1 for openid in acknowledged if per_openid[openid] == 0)
    doubtful = by_status.get(IN_DOUBT, set())
    result.doubt_reached = sum(1 for openid in doubtful if per_openid[openid] >= 1)
    members = set(broadcast.openids)
    result.strangers = sum(n for openid, n in per_openid.items() if openid not in members)
    result.failed_without_reason = await failed_without_reason(db, broadcast.notice_id)

    problems = result.problems
    if unsettled(result.counts):
        problems.append(f"rows not final: {dict(result.counts)}")
    if result.duplicates:
        problems.append(f"{result.duplicates} acknowledged rows reached their member more than once")
    if result.missing:
        problems.append(f"{result.missing} rows are `sent` but the fake never got them")
    if any(per_openid[o] > 1 for o in doubtful):
        problems.append("a row in doubt reached its member more than once")
    if result.strangers:
        problems.append(f"{result.strangers} sends to openids outside the broadcast")
    if result.failed_without_reason:
        problems.append(f"{result.failed_without_reason} failed rows without a reason")
    if result.sends > result.counts[SENT] + result.counts[IN_DOUBT]:
        problems.append(
            f"{result.sends} sends for {result.counts[SENT]} sent + {result.counts[IN_DOUBT]} in doubt"
        )
    if kill:
        assert result.at_kill is not None
        in_doubt = result.counts[IN_DOUBT]
        if in_doubt > options.concurrency:
            problems.append(f"{in_doubt} rows in doubt, more than the {options.concurrency} calls in flight")
        if in_doubt > result.at_kill[SENDING]:
            problems.append(f"{in_doubt} rows in doubt, but only {result.at_kill[SENDING]} were `sending`")
    else:
        if result.counts[SENT] != result.recipients:
            problems.append(f"{result.recipients - result.counts[SENT]} rows not sent: {dict(result.counts)}")
        if result.wall_s > TARGET_RATIO * options.ideal_s and not options.smoke:
            problems.append(
                f"took {result.wall_s:.1f} s, over the target {TARGET_RATIO} × {options.ideal_s:.0f} s"
            )


# --- the worker under a profiler (run as a subprocess: `outbox_bench.py profiled-worker OUT`) ------------


def profiled_worker(out: Path) -> int:
    """`partybot worker`, with its event loop's thread under cProfile and the pieces of a delivery timed:
    wall time summed over calls (calls that overlap, like the API calls of a wave, add up)."""
    from bot.cli import main
    from bot.outbound.ratelimit import RateLimiter
    from bot.wechat.gateway import WeChatGateway

    timings: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def timed(owner: Any, method: str, label: Callable[..., str]) -> None:
        original = getattr(owner, method)

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                entry = timings[label(*args, **kwargs)]
                entry[0] += 1
                entry[1] += time.perf_counter() - started

        setattr(owner, method, wrapper)

    def transaction(_db: Any, fn: Any, *_: Any, **__: Any) -> str:
        name = getattr(fn, "__qualname__", "?").replace(".<locals>", "")
        return f"db.run {name}"

    timed(Database, "run", transaction)
    timed(WeChatGateway, "call", lambda *a, **k: "gateway.call (API call, 1 per row)")
    timed(RateLimiter, "acquire", lambda *a, **k: "RateLimiter.acquire (waiting for a slot)")
    from bot.outbound.worker import DeliveryWorker

    timed(DeliveryWorker, "run_once", lambda *a, **k: "DeliveryWorker.run_once (one batch)")
    profile = cProfile.Profile()
    profile.enable()
    try:
        main(["worker"], standalone_mode=False)
    finally:
        profile.disable()
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(r"/(bot|models)/", 25)
        out.write_text(json.dumps({"timings": timings, "profile": text.getvalue()}))
    return 0


# --- report -------------------------------------------------------------------------------------


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def machine_line() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("aiohttp", "sqlalchemy", "aiosqlite", "asyncpg")
    )
    return (
        f"{os.cpu_count()} cores (nproc), {cpu}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {versions}"
    )


def table(results: list[RunResult], options: Options, database: str) -> str:
    rows = [
        "| run | database | rows | start → all final | first → last send | ideal | ratio | sent | in doubt "
        "| failed | duplicates | peak RSS | worker CPU | result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        # The kill run's time is mostly the dead worker's lease: no ratio to the ideal.
        ratio = "—" if r.at_kill is not None else f"{r.wall_s / options.ideal_s:.2f}×"
        span = "—" if r.span_s is None else f"{r.span_s:.1f} s"
        rows.append(
            f"| {r.name} | {database} | {r.recipients:,} | {r.wall_s:.1f} s | {span} | "
            f"{options.ideal_s:.0f} s | {ratio} | {r.counts[SENT]:,} | {r.counts[IN_DOUBT]} | "
            f"{r.counts[FAILED]} | {r.duplicates} | {mb(r.peak_rss_kb)} MB | {r.worker_cpu_s:.1f} s | "
            f"{'FAIL' if r.problems else 'ran (smoke: time not judged)' if options.smoke else 'pass'} |"
        )
    return "\n".join(rows)


def memory_line(r: RunResult) -> str:
    """RSS as the rows go out: after start-up, at 10 %, 50 %, 90 % and all sent (flat memory)."""
    points = []
    for fraction in (0.1, 0.5, 0.9, 1.0):
        wanted = fraction * r.recipients
        found = next((s for s in r.samples if s.sent >= wanted and s.rss_kb), None)
        if found is not None:
            points.append(f"{fraction:.0%} {mb(found.rss_kb)} MB")
    return "RSS at " + ", ".join(points) if points else "RSS not sampled"


def notes(results: list[RunResult], options: Options) -> list[str]:
    lines = []
    for r in results:
        details = [
            f"seeded in {r.seed_s:.1f} s",
            f"first send {r.first_send_s:.1f} s after the worker started (its start-up)"
            if r.first_send_s is not None
            else "no send",
            memory_line(r),
            f"{r.sends:,} sends accepted by the fake",
            f"fake CPU {r.fake_cpu_s:.1f} s",
            f"worker CPU {1000 * r.worker_cpu_s / max(r.recipients, 1):.2f} ms per row (start-up included)",
        ]
        if r.span_s:
            details.insert(0, f"{r.counts[SENT] / r.span_s:.0f} sends/s between the first and the last")
        if r.at_kill is not None:
            details += [
                f"SIGKILL at {r.killed_at_s:.1f} s with {r.at_kill[SENT]:,} sent, {r.at_kill[SENDING]} "
                f"sending (calls in flight), {r.at_kill[QUEUED]:,} queued",
                f"restart → rows not held by the dead worker's lease done in {r.restart_rows_s:.1f} s, "
                f"→ every row final in {r.restart_wall_s:.1f} s (lease {options.lease:.0f} s)",
                f"{r.counts[IN_DOUBT]} in doubt (≤ {options.concurrency} calls in flight), "
                f"{r.doubt_reached} of them did reach their member",
            ]
        lines.append(f"- {r.name}: " + "; ".join(details) + ".")
        lines += [f"  - **problem:** {p}" for p in r.problems]
    return lines


def timing_lines(r: RunResult) -> list[str]:
    if not r.timings:
        return []
    lines = [
        f"Where the clean run's worker spent its time ({r.wall_s:.1f} s from start to all final; sums over "
        "calls, so overlapping API calls add up):",
        "",
        "| what | calls | total s | ms per call |",
        "|---|---:|---:|---:|",
    ]
    for label, (calls, total) in sorted(r.timings.items(), key=lambda item: -item[1][1]):
        lines.append(f"| {label} | {int(calls):,} | {total:.2f} | {1000 * total / max(calls, 1):.2f} |")
    return lines


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL database (default: SQLite)")
    parser.add_argument("--redis-url", default=None, help="share the rate and the token through Redis")
    parser.add_argument("--recipients", type=int, default=10_000, help="members in the broadcast (10000)")
    parser.add_argument("--latency", type=float, default=0.05, help="the fake's seconds per API call (0.05)")
    parser.add_argument(
        "--rate", type=float, default=200.0, help="PARTYBOT_RATE_CUSTOMER_SERVICE_PER_S (200)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"PARTYBOT_DELIVERY_CONCURRENCY (the setting's default, {default('delivery_concurrency')})",
    )
    parser.add_argument(
        "--batch", type=int, default=None, help=f"PARTYBOT_DELIVERY_BATCH ({default('delivery_batch')})"
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=None,
        help=f"PARTYBOT_DELIVERY_LEASE_S ({default('delivery_lease_s'):.0f})",
    )
    parser.add_argument("--only", default=None, help="clean or kill (default: both)")
    parser.add_argument("--profile", action="store_true", help="profile the clean run's worker")
    parser.add_argument(
        "--smoke", action="store_true", help="check that it runs and delivers correctly, not the time target"
    )
    args = parser.parse_args(argv)
    if args.recipients < 10:
        parser.error("--recipients must be at least 10")
    if args.only not in (None, "clean", "kill"):
        parser.error("--only is clean or kill")
    if args.database_url and not args.database_url.startswith(("postgresql", "postgres://")):
        parser.error("--database-url is a PostgreSQL URL (SQLite is the default)")
    return args


async def run(args: argparse.Namespace, command: str) -> int:
    options = Options(
        database_url=args.database_url,
        redis_url=args.redis_url,
        recipients=args.recipients,
        latency_s=args.latency,
        rate=args.rate,
        concurrency=args.concurrency or int(default("delivery_concurrency")),
        batch=args.batch,
        lease_s=args.lease,
        profile=args.profile,
        smoke=args.smoke,
    )
    database = "PostgreSQL" if options.database_url else "SQLite"
    runs = [name for name in ("clean", "kill") if args.only in (None, name)]
    started = datetime.now(UTC)
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="partybot-outbox-bench-") as tmp:
        async with aiohttp.ClientSession() as http:
            for name in runs:
                workdir = Path(tmp) / name
                workdir.mkdir()
                # SQLite: a fresh file per run; PostgreSQL: the database given, cleared by the run.
                url = options.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
                await upgrade(url)
                print(f"== {name}: {options.recipients:,} recipients on {database}", flush=True)
                result = await run_once(name, options, url, workdir, http, kill=name == "kill")
                results.append(result)
                print(
                    f"   {result.wall_s:.1f} s, {result.counts[SENT]:,} sent, {result.counts[IN_DOUBT]} in "
                    f"doubt, {result.duplicates} duplicates"
                    + (f"  FAIL: {'; '.join(result.problems)}" if result.problems else ""),
                    flush=True,
                )
    shown = (
        make_url(options.database_url).render_as_string(hide_password=True) if options.database_url else ""
    )
    settings = (
        f"{options.recipients:,} recipients, the fake at {1000 * options.latency_s:.0f} ms per call, "
        f"rate {options.rate:g}/s, concurrency {options.concurrency}, batch "
        f"{options.batch or default('delivery_batch')}, lease {options.lease:g} s"
        + (f", Redis {options.redis_url}" if options.redis_url else ", no Redis")
    )
    print()
    print(f"Run {started:%Y-%m-%d %H:%M} UTC: `{command}` ({settings}{'; ' + shown if shown else ''}).")
    print()
    print(f"Machine: {machine_line()}.")
    print()
    print(table(results, options, database))
    print()
    print(
        f"Target (clean): start → all final ≤ {TARGET_RATIO} × {options.recipients:,} / {options.rate:g} = "
        f"{TARGET_RATIO * options.ideal_s:.0f} s. Target (kill): no duplicates among acknowledged rows, in "
        f"doubt ≤ {options.concurrency} (concurrency), every row final."
    )
    print()
    print("\n".join(notes(results, options)))
    for r in results:
        if r.timings:
            print()
            print("\n".join(timing_lines(r)))
            print()
            print(r.profile)
    return 0 if all(not r.problems for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["profiled-worker"]:
        return profiled_worker(Path(argv[1]))
    args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "bench/outbox_bench.py", *argv])
    try:
        return asyncio.run(run(args, command))
    except (RuntimeError, AssertionError) as exc:  # a process that exits or a run that never ends
        print(f"outbox_bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
