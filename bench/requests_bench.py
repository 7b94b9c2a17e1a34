"""居民诉求 benchmark (issue 14): the three rates of a city month (500 000 tickets in 200 grids) in ≤ 1 s on
PostgreSQL, and the `request_deadlines` job over 50 000 open tickets in ≤ 30 s, on SQLite and PostgreSQL.

The org tree comes from bench/seed_branches.py (the real import: 200 网格党支部 of 50 members, ten to a
社区党委, one street; kept in bench/.cache/), the grid workers and tickets from bench/seed_requests.py (bulk
inserts; see there for the spread of states). Each backend gets its own copy (SQLite: a file copy;
`--postgres URL`: a scratch database loaded from it, then ANALYZE: a database in service has planner
statistics, a fresh bulk load has none). Then one fresh process (`--child`) measures:

  rates street    `rates(session, "2026-11", street, by="grid")`: the street and each of its 200 grids, as
                  `诉求统计` and `partybot report requests` read them; RATE_CALLS calls after a first one,
                  p50 and p95. Target ≤ 1 s on PostgreSQL.
  rates community the same for one community and its ten grids (the same month's query, less to roll up).
  deadlines       the job as of Monday 2026-12-07 10:00 Beijing: the 80 % reminders, both escalation steps
                  of both phases, the rating reminders and the unrated closes due among the open tickets.
                  Target ≤ 30 s.
  again           the same moment once more: nothing may be written.

Every figure is checked: the rates' counts against the plan's (computed from the rows as they were written,
by bot.domain.request_rates' definitions), the job's summary and its notices and events against the kinds of
tickets seeded; a wrong count makes the exit status 1.

    .venv/bin/python bench/requests_bench.py                                      # SQLite
    .venv/bin/python bench/requests_bench.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/requests_bench.py --smoke      # does it run? (tests/test_bench.py)

`--smoke` seeds 4 grids, 2 000 tickets in the month and 500 open ones, and judges no figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (ROOT, BENCH_DIR):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import seed_branches  # noqa: E402
import seed_requests  # noqa: E402
import theme_day_bench as td  # noqa: E402  (the process, memory and PostgreSQL helpers)

RATES_TARGET_S = 1.0
JOB_TARGET_S = 30.0
RATE_CALLS = 9
TABLES = ("notices", "outbox", "request_events")


@dataclass(frozen=True, slots=True)
class Size:
    members: int
    grids: int
    month: int  # tickets filed in the month
    open: int  # open tickets for the job


FULL = Size(10_000, 200, 500_000, 50_000)
SMOKE = Size(200, 4, 2_000, 500)


# --- the child -------------------------------------------------------------------------------------


async def _counts(db: Any) -> dict[str, int]:
    from sqlalchemy import text

    async with db.read() as session:
        return {t: int(await session.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _rates(db: Any, scope: str, expected: dict[str, list[int]], calls: int) -> dict[str, Any]:
    from bot.domain.request_rates import rates

    times: list[float] = []
    found: list[Any] = []
    for _ in range(calls + 1):  # the first (the process's first query, compiled afresh) apart
        started = time.perf_counter()
        async with db.read() as session:
            found = await session.run_sync(lambda s: rates(s, seed_requests.MONTH, scope, by="grid"))
        times.append(time.perf_counter() - started)
    problems = []
    for row in found:
        got = [row.tickets, row.responded, row.solved, row.rated, row.satisfied, row.unrated_closed]
        want = expected.get(row.unit_path)
        if want is None:
            problems.append(f"rates {scope}: an unexpected row {row.unit_path}")
        elif got != want:
            problems.append(f"rates {scope}: {row.unit_path} counted {got}, expected {want}")
    if len(found) != len(expected):
        problems.append(f"rates {scope}: {len(found)} rows, expected {len(expected)}")
    top = found[0] if found else None
    return {
        "name": f"rates {'street' if scope.count('/') == 0 else 'community'}",
        "calls": calls,
        "p50_s": _pct(times[1:], 0.5),
        "p95_s": _pct(times[1:], 0.95),
        "first_s": times[0],
        "rows": len(found),
        "summary": (
            f"{top.tickets:,} tickets: 响应率 {top.response_rate:.1%}, 解决率 {top.solve_rate:.1%}, "
            f"满意率 {top.satisfaction_rate:.1%} ({top.rated:,} rated), {top.unrated_closed:,} unrated"
            if top and top.tickets and top.rated
            else ""
        ),
        "problems": problems,
    }


async def child(url: str, spec: dict[str, Any]) -> dict[str, Any]:
    from bot.content import load_content
    from bot.settings import Settings
    from models.db import Database
    from scheduler.jobs import JobDeps, job_named

    settings = Settings(wechat_token="benchtoken", database_url=url, _env_file=None)  # type: ignore[call-arg]
    db = Database(url)
    out: dict[str, Any] = {"phases": [], "problems": []}
    try:
        for scope, expected in spec["rates"].items():
            phase = await _rates(db, scope, expected, spec["calls"])
            out["problems"] += phase.pop("problems")
            out["phases"].append(phase)
        deps = JobDeps(db, settings, load_content())
        job = job_named("request_deadlines")
        for name in ("deadlines", "again"):
            before = await _counts(db)
            rss_before = td._status_kb("VmRSS")
            reset = td._reset_peak_rss()
            cpu, wall = td._cpu_s(), time.perf_counter()
            summary = await job.run(deps, seed_requests.NOW)
            wall, cpu = time.perf_counter() - wall, td._cpu_s() - cpu
            hwm = td._status_kb("VmHWM")
            rows = {t: n - before[t] for t, n in (await _counts(db)).items()}
            out["phases"].append(
                {
                    "name": name,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "rows": rows,
                    "rss_growth_kb": (hwm - rss_before) if reset else None,
                    "summary": summary,
                }
            )
            if name == "deadlines":
                if summary != spec["summary"]:
                    out["problems"].append(f"deadlines: {summary!r}, expected {spec['summary']!r}")
                if rows["notices"] != spec["notices"] or rows["request_events"] != spec["events"]:
                    out["problems"].append(
                        f"deadlines: wrote {rows}, expected {spec['notices']} notices, "
                        f"{spec['events']} events"
                    )
            elif any(rows.values()) or not summary.startswith("reminded 0, escalated 0, rating reminders 0"):
                out["problems"].append(f"again: wrote {rows} ({summary}), expected nothing")
    finally:
        await db.dispose()
    return out


# --- the runs --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    backend: str
    size: Size
    seed_s: float = 0.0
    phases: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def phase(self, name: str) -> dict[str, Any]:
        return next(p for p in self.phases if p["name"] == name)


def spec_of(plan: seed_requests.Plan, calls: int) -> dict[str, Any]:
    """What the child must find: the rates per scope (path → counts), the job's summary and writes."""
    town = plan.town
    street = town.paths[town.street]
    community = town.paths[town.communities[0]]

    def expected(scope: str) -> dict[str, list[int]]:
        units = {i for i, p in town.paths.items() if p == scope or p.startswith(scope + "/")}
        found = {scope: plan.scope_counts(units)}
        for grid in town.grids:
            path = town.paths[grid]
            if path.startswith(scope + "/"):
                found[path] = plan.scope_counts(
                    {i for i, p in town.paths.items() if p == path or p.startswith(path + "/")}
                )
        return found

    k = plan.job
    events = sum(v for name, v in k.items() if name not in ("linked", "waiting"))
    return {
        "rates": {street: expected(street), community: expected(community)},
        "calls": calls,
        "summary": plan.job_summary(),
        "notices": plan.job_notices(),
        "events": events,
    }


def _run_child(url: str, spec: dict[str, Any], label: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")}
    env["PARTYBOT_LOG_LEVEL"] = "WARNING"
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=td.CHILD_TIMEOUT_S,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the {label} process exited with {done.returncode}\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


def measure(backend: str, built: seed_branches.Built, size: Size, postgres: str | None, tmp: Path) -> Run:
    run = Run(backend, size)
    town = seed_requests.Town.of(built.path, size.grids)
    plan = seed_requests.Plan(town, size.month, size.open)
    name = ""
    try:
        started = time.perf_counter()
        if backend == "SQLite":
            path = tmp / f"requests-{size.month}.db"
            shutil.copyfile(built.path, path)
            seed_requests.write_sqlite(path, plan)
            url = f"sqlite+aiosqlite:///{path}"
        else:
            assert postgres is not None
            name = f"pb_bench_requests_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            url = td._url_for(postgres, name)
            asyncio.run(td._pg_exec(postgres, f"CREATE DATABASE {name}"))
            asyncio.run(td._pg_load(url, built.path))
            asyncio.run(seed_requests.write_postgres(url, plan))
            asyncio.run(td._pg_exec(url, "ANALYZE", "CHECKPOINT"))
        run.seed_s = time.perf_counter() - started
        found = _run_child(url, spec_of(plan, 3 if size == SMOKE else RATE_CALLS), f"{backend} child")
        run.phases, run.problems = found["phases"], found["problems"]
    finally:
        if name and postgres is not None:
            asyncio.run(td._pg_exec(postgres, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return run


def table(runs: list[Run]) -> str:
    lines = [
        "| database | tickets: month / open | grids | run | wall (p50) | p95 | CPU "
        "| rows: notices / outbox / events | RSS growth | result |",
        "|---|---|---:|---|---:|---:|---:|---|---:|---|",
    ]
    for run in runs:
        for p in run.phases:
            head = (
                f"| {run.backend} | {run.size.month:,} / {run.size.open:,} | {run.size.grids} | {p['name']} "
            )
            if p["name"].startswith("rates"):
                lines.append(
                    f"{head}| {p['p50_s'] * 1000:.0f} ms | {p['p95_s'] * 1000:.0f} ms | "
                    f"| {p['rows']} rows ({p['calls']} calls, first {p['first_s'] * 1000:.0f} ms) | "
                    f"| {p['summary']} |"
                )
            else:
                rows = " / ".join(f"{p['rows'][t]:,}" for t in TABLES)
                lines.append(
                    f"{head}| {p['wall_s']:.2f} s | | {p['cpu_s']:.2f} s | {rows} "
                    f"| {td._mb(p['rss_growth_kb'])} | {p['summary']} |"
                )
    return "\n".join(lines)


def verdicts(runs: list[Run], smoke: bool) -> list[str]:
    note = " (smoke: not judged)" if smoke else ""
    out: list[str] = []
    for run in runs:
        size = f"{run.size.month:,} tickets, {run.size.grids} grids"
        rates = run.phase("rates street")
        if run.backend == "PostgreSQL" or smoke:
            p50, p95 = rates["p50_s"], rates["p95_s"]
            met = (
                "met"
                if p95 <= RATES_TARGET_S
                else "met at p50, NOT at p95"
                if p50 <= RATES_TARGET_S
                else "NOT met"
            )
            out.append(
                f"{run.backend}: the month's rates by grid ({size}) p50 {p50:.2f} s, p95 {p95:.2f} s "
                f"(≤ {RATES_TARGET_S:.0f} s): {met}{note}"
            )
        took = run.phase("deadlines")["wall_s"]
        out.append(
            f"{run.backend}: request_deadlines over {run.size.open:,} open tickets took {took:.1f} s "
            f"(≤ {JOB_TARGET_S:.0f} s): {'met' if took <= JOB_TARGET_S else 'NOT met'}{note}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--postgres", metavar="URL", help="also on PostgreSQL (a scratch database on its server)"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument(
        "--smoke", action="store_true", help="4 grids, 2 000 + 500 tickets, figures not judged"
    )
    parser.add_argument("--month", type=int, help=f"tickets in the month (default {FULL.month:,})")
    parser.add_argument("--open", type=int, help=f"open tickets for the job (default {FULL.open:,})")
    parser.add_argument("--cache-dir", type=Path, default=seed_branches.CACHE_DIR)
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, json.loads(sys.stdin.read())))), flush=True)
        return 0
    size = SMOKE if args.smoke else FULL
    size = Size(size.members, size.grids, args.month or size.month, args.open or size.open)
    backends = ([] if args.no_sqlite else ["SQLite"]) + (["PostgreSQL"] if args.postgres else [])
    if not backends:
        parser.error("--no-sqlite needs --postgres")
    print(
        f"requests benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {td.load_average()}",
        flush=True,
    )
    print(f"machine: {td.machine()}", flush=True)
    built = seed_branches.branches_db(size.members, size.grids, args.cache_dir)
    print(
        f"== {size.grids} grids ({size.members:,} members), {size.month:,} + {size.open:,} tickets",
        flush=True,
    )
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="partybot-requests-") as tmp:
        for backend in backends:
            run = measure(backend, built, size, args.postgres, Path(tmp))
            rates = run.phase("rates street")["p50_s"]
            print(
                f"   {backend}: seeded in {run.seed_s:.1f} s; rates {rates:.3f} s, "
                f"deadlines {run.phase('deadlines')['wall_s']:.2f} s; load average {td.load_average()}",
                flush=True,
            )
            runs.append(run)
    print()
    print(table(runs))
    print()
    for line in verdicts(runs, args.smoke):
        print(f"- {line}")
    problems = [f"{r.backend}: {p}" for r in runs for p in r.problems]
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
