"""Theme-day benchmark (issue 12): the `theme_day` job (scheduler/jobs/theme_day.py) for 100 000 members in
2 000 branches enqueues its notices in ≤ 60 s with flat memory, on SQLite and PostgreSQL.

The community comes from bench/seed_branches.py (the real import of an org CSV and a roster CSV: B grid
branches of N / B members in two building groups each, ten branches per community; every branch's 主题党日
`每月20日`, every community's `每月25日`; every member bound), kept in bench/.cache/. Each run gets its own
copy: a copy of the SQLite file (migrated by models.migrate.upgrade when it was built), or, with
`--postgres URL`, a scratch PostgreSQL database created from the URL's server (migrated, then the seeded
tables bulk-copied from the SQLite file, so both hold the same rows), dropped afterwards.

Each run is a fresh process (`--child`, so its memory is its own) that runs the job three times:

  due    as of 2026-12-13 09:00 Beijing (01:00 UTC), a week before the 20th, on a database with no events
         yet: it creates December's and January's theme days for every branch and community, invites every
         member of the 2 000 branches, and writes the week notice with one outbox row per member. Target:
         ≤ 60 s at 100 000 members.
  again  as of the same moment: nothing to write (0 rows), and how long finding that out takes — the cost
         of each 10-minute run in the week a notice is due.
  idle   as of 2026-12-10 09:00, when no notice is due — the cost of each 10-minute run on other days.

Per run: wall time, the process's CPU time, rows written (events, invitations, notices, outbox), the
growth of the process's RSS over the job (peak RSS, VmHWM, reset before each run, less the RSS before it),
and, in a second process on a second copy, the peak of Python's allocations (tracemalloc, which slows the
code, so its times are not reported). Memory is measured at two sizes with the same branch size (by
default 25 000 members in 500 branches and 100 000 in 2 000): flat memory means the peak does not grow
with N.

    .venv/bin/python bench/theme_day_bench.py                                 # SQLite, ~3 minutes
    .venv/bin/python bench/theme_day_bench.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/theme_day_bench.py --sizes 100000/2000 --profile /tmp/prof   # py-spy of `due`
    .venv/bin/python bench/theme_day_bench.py --smoke        # does it run? (tests/test_bench.py)

`--smoke` runs 200 members in 4 branches and 500 in 10 and judges no figure; a wrong row count (a member
without their notice, a notice twice, a second run that writes) is a problem in any setting, and makes
the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (ROOT, BENCH_DIR):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))  # run as a script: partybot's packages and seed_branches

import seed_branches  # noqa: E402

TARGET_S = 60.0
FLAT_RATIO = 1.5  # "flat": the larger size's peak is within this factor of the smaller's
# The moments (UTC): 09:00 Beijing a week before 2026-12-20 (a Sunday, no holiday), and three days earlier.
DUE_AT = datetime(2026, 12, 13, 1, 0, tzinfo=UTC)
IDLE_AT = datetime(2026, 12, 10, 1, 0, tzinfo=UTC)
PHASES = (("due", DUE_AT), ("again", DUE_AT), ("idle", IDLE_AT))
TABLES = ("events", "event_invitations", "notices", "outbox")
COPIED = ("org_units", "buildings", "doors", "members", "bindings", "wechat_users")  # what the seed wrote
WEEK_KEYS = "theme_day:%:week"  # the week notices' keys (notices.author)
CHILD_TIMEOUT_S = 1800
DEFAULT_SIZES = ((25_000, 500), (100_000, 2_000))
SMOKE_SIZES = ((200, 4), (500, 10))


# --- the child: one process, one database, the three runs -----------------------------------------


def _status_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: 5 > /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _counts(db: Any) -> dict[str, int]:
    from sqlalchemy import text

    async with db.read() as session:
        return {t: int(await session.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES}


async def _check_due(db: Any) -> dict[str, int]:
    """What the due run should have written: one week notice per branch due, one outbox row per member of
    those branches (everyone but the communities' own members), each member once."""
    from sqlalchemy import text

    async with db.read() as session:
        expected = await session.scalar(
            text(
                "SELECT count(*) FROM members m JOIN org_units u ON u.id = m.unit_id "
                "WHERE m.active AND u.kind <> '社区党委'"
            )
        )
        rows, members = (
            await session.execute(
                text(
                    "SELECT count(*), count(DISTINCT o.member_id) FROM outbox o "
                    "JOIN notices n ON n.id = o.notice_id WHERE n.author LIKE :key"
                ),
                {"key": WEEK_KEYS},
            )
        ).one()
        notices = await session.scalar(
            text("SELECT count(*) FROM notices WHERE author LIKE :key"), {"key": WEEK_KEYS}
        )
        branches = await session.scalar(text("SELECT count(*) FROM org_units WHERE kind = '网格党支部'"))
    return {
        "expected_rows": int(expected or 0),
        "week_rows": int(rows or 0),
        "week_members": int(members or 0),
        "week_notices": int(notices or 0),
        "branches": int(branches or 0),
    }


async def child(url: str, traced: bool) -> dict[str, Any]:
    import tracemalloc

    from bot.content import load_content
    from bot.domain.calendar import Holidays
    from bot.settings import Settings
    from models.db import Database
    from scheduler.jobs import JobDeps, job_named

    settings = Settings(wechat_token="benchtoken", database_url=url, _env_file=None)  # type: ignore[call-arg]
    db = Database(url)
    deps = JobDeps(db, settings, load_content(), holidays=Holidays.load())
    job = job_named("theme_day")
    out: dict[str, Any] = {"phases": [], "problems": []}
    try:
        await _counts(db)  # the connections opened, the modules loaded: before the baseline
        for name, at in PHASES:
            before = await _counts(db)
            rss_before = _status_kb("VmRSS")
            reset = _reset_peak_rss()
            if traced:
                tracemalloc.start()
            cpu, wall = _cpu_s(), time.perf_counter()
            summary = await job.run(deps, at)
            wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
            peak_py = 0
            if traced:
                _, peak_py = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            hwm = _status_kb("VmHWM")
            after = await _counts(db)
            phase = {
                "name": name,
                "at": at.isoformat(),
                "wall_s": wall,
                "cpu_s": cpu,
                "rows": {t: after[t] - before[t] for t in TABLES},
                "rss_before_kb": rss_before,
                "rss_growth_kb": (hwm - rss_before) if reset else None,
                "rss_after_kb": _status_kb("VmRSS"),
                "py_peak_kb": peak_py // 1024 if traced else None,
                "summary": summary,
            }
            out["phases"].append(phase)
            if name == "due":
                check = await _check_due(db)
                phase["check"] = check
                if (
                    check["week_rows"] != check["expected_rows"]
                    or check["week_members"] != check["week_rows"]
                ):
                    out["problems"].append(
                        f"due: {check['week_rows']} week rows, expected {check['expected_rows']}"
                    )
                if check["week_notices"] != check["branches"]:
                    out["problems"].append(
                        f"due: {check['week_notices']} week notices for {check['branches']}"
                    )
            elif any(phase["rows"].values()):
                out["problems"].append(f"{name}: wrote {phase['rows']}, expected nothing")
    finally:
        await db.dispose()
    return out


# --- the databases ---------------------------------------------------------------------------------


def _admin_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _url_for(url: str, dbname: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


async def _pg_exec(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _pg_load(url: str, source: Path) -> dict[str, int]:
    """Migrate the PostgreSQL database at `url`, then copy the seeded tables from the SQLite file (triggers
    and foreign-key checks off for the copy: the rows are the import's, already consistent)."""
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from models.base import Base
    from models.migrate import upgrade

    await upgrade(url)
    tables = [t for t in Base.metadata.sorted_tables if t.name in COPIED]
    copied: dict[str, int] = {}
    reader = create_engine(f"sqlite:///{source}")
    writer = create_async_engine(url)
    try:
        async with writer.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            with reader.connect() as src:
                for table in tables:
                    rows = [dict(r._mapping) for r in src.execute(select(table))]
                    for start in range(0, len(rows), 5_000):
                        await conn.execute(table.insert(), rows[start : start + 5_000])
                    copied[table.name] = len(rows)
                    if "id" in table.c:
                        await conn.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                            )
                        )
        async with writer.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
    finally:
        reader.dispose()
        await writer.dispose()
    return copied


@dataclass(slots=True)
class Run:
    backend: str
    members: int
    branches: int
    phases: list[dict[str, Any]] = field(default_factory=list)  # the timed process
    traced: list[dict[str, Any]] = field(default_factory=list)  # the tracemalloc process
    problems: list[str] = field(default_factory=list)
    prepare_s: float = 0.0

    def phase(self, name: str, traced: bool = False) -> dict[str, Any]:
        return next(p for p in (self.traced if traced else self.phases) if p["name"] == name)


def _run_child(url: str, traced: bool, profile: Path | None, label: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", url]
    if traced:
        command.append("--traced")
    if profile is not None:
        py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        if py_spy is None:
            raise SystemExit("--profile needs py-spy (the dev extras)")
        profile.mkdir(parents=True, exist_ok=True)
        target = profile / f"{label}.txt"
        command = [py_spy, "record", "-r", "100", "-f", "raw", "-o", str(target), "--", *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")}
    env["PARTYBOT_LOG_LEVEL"] = "WARNING"
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"the {label} process exited with {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-4000:]}"
        )
    return json.loads(lines[-1])


def measure(
    backend: str, built: seed_branches.Built, postgres: str | None, profile: Path | None, tmp: Path
) -> Run:
    run = Run(backend, built.shape.members, built.shape.branches)
    label = f"{backend.lower()}-{built.shape.members}"
    started = time.perf_counter()
    if backend == "SQLite":
        urls = []
        for kind in ("timed", "traced"):
            path = tmp / f"{label}-{kind}.db"
            shutil.copyfile(built.path, path)
            urls.append(f"sqlite+aiosqlite:///{path}")
        run.prepare_s = time.perf_counter() - started
        _collect(run, urls, profile, label)
        return run
    assert postgres is not None
    stem = f"pb_bench_td_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    names = [f"{stem}_{kind}" for kind in ("base", "timed", "traced")]
    try:
        asyncio.run(_pg_exec(postgres, f"CREATE DATABASE {names[0]}"))
        asyncio.run(_pg_load(_url_for(postgres, names[0]), built.path))
        asyncio.run(_pg_exec(postgres, *(f"CREATE DATABASE {n} TEMPLATE {names[0]}" for n in names[1:])))
        run.prepare_s = time.perf_counter() - started
        _collect(run, [_url_for(postgres, n) for n in names[1:]], profile, label)
    finally:
        asyncio.run(_pg_exec(postgres, *(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names)))
    return run


def _collect(run: Run, urls: list[str], profile: Path | None, label: str) -> None:
    timed = _run_child(urls[0], False, profile, label)
    traced = _run_child(urls[1], True, None, label + "-traced")
    run.phases, run.traced = timed["phases"], traced["phases"]
    run.problems += timed["problems"] + [f"(traced) {p}" for p in traced["problems"]]


# --- the report ------------------------------------------------------------------------------------


def _mb(kb: int | None) -> str:
    return "—" if kb is None else f"{kb / 1024:.1f} MB"


def _rows(rows: dict[str, int]) -> str:
    return " / ".join(f"{rows[t]:,}" for t in TABLES)


def table(runs: list[Run]) -> str:
    lines = [
        "| database | members / branches | run | wall | CPU | rows: events / invitations / notices / outbox "
        "| RSS growth | Python peak (tracemalloc) | job's summary |",
        "|---|---|---|---:|---:|---|---:|---:|---|",
    ]
    for run in runs:
        for phase in run.phases:
            traced = run.phase(phase["name"], traced=True)
            lines.append(
                f"| {run.backend} | {run.members:,} / {run.branches:,} | {phase['name']} "
                f"| {phase['wall_s']:.2f} s | {phase['cpu_s']:.2f} s | {_rows(phase['rows'])} "
                f"| {_mb(phase['rss_growth_kb'])} | {_mb(traced['py_peak_kb'])} | {phase['summary']} |"
            )
    return "\n".join(lines)


def verdicts(runs: list[Run], smoke: bool) -> list[str]:
    out: list[str] = []
    for backend in dict.fromkeys(r.backend for r in runs):
        mine = sorted((r for r in runs if r.backend == backend), key=lambda r: r.members)
        largest = mine[-1]
        due = largest.phase("due")["wall_s"]
        met = due <= TARGET_S
        out.append(
            f"{backend}: due run at {largest.members:,} members / {largest.branches:,} branches "
            f"took {due:.1f} s "
            f"(target ≤ {TARGET_S:.0f} s): {'met' if met else 'NOT met'}"
            + (" (smoke: not judged)" if smoke else "")
        )
        if len(mine) >= 2:
            small = mine[0]
            for what, key, traced in (
                ("RSS growth", "rss_growth_kb", False),
                ("Python peak", "py_peak_kb", True),
            ):
                a, b = small.phase("due", traced)[key], largest.phase("due", traced)[key]
                if a is None or b is None:
                    continue
                ratio = b / a if a else float("inf")
                flat = ratio <= FLAT_RATIO
                out.append(
                    f"{backend}: {what} of the due run {_mb(a)} at {small.members:,} → {_mb(b)} at "
                    f"{largest.members:,} members ({ratio:.2f}× for "
                    f"{largest.members / small.members:.0f}× the "
                    f"members): {'flat' if flat else 'NOT flat'} (≤ {FLAT_RATIO}×)"
                    + (" (smoke: not judged)" if smoke else "")
                )
    return out


def machine() -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("sqlalchemy", "aiosqlite", "asyncpg") if _has(name)
    )
    return (
        f"{os.cpu_count()} cores, {cpu}, Linux {platform.release()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {versions}"
    )


def _has(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        members, _, branches = part.strip().partition("/")
        sizes.append((int(members), int(branches)))
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", help="members/branches,... (default 25000/500,100000/2000)")
    parser.add_argument(
        "--postgres", metavar="URL", help="also on PostgreSQL (scratch databases on its server)"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--smoke", action="store_true", help="200/4 and 500/10, figures not judged")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="py-spy record each timed process into DIR"
    )
    parser.add_argument("--cache-dir", type=Path, default=seed_branches.CACHE_DIR)
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.traced))), flush=True)
        return 0

    sizes = parse_sizes(args.sizes) if args.sizes else list(SMOKE_SIZES if args.smoke else DEFAULT_SIZES)
    backends = ([] if args.no_sqlite else ["SQLite"]) + (["PostgreSQL"] if args.postgres else [])
    if not backends:
        parser.error("--no-sqlite needs --postgres")
    started_at = datetime.now(UTC)
    print(f"theme_day benchmark, {started_at:%Y-%m-%d %H:%M} UTC; load average {load_average()}", flush=True)
    print(f"machine: {machine()}", flush=True)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="partybot-themeday-") as tmp:
        for members, branches in sizes:
            built = seed_branches.branches_db(members, branches, args.cache_dir)
            print(
                f"== {members:,} members in {branches:,} branches: "
                f"{'from the cache' if built.cached else f'built in {built.seconds:.0f} s ({built.steps})'}",
                flush=True,
            )
            for backend in backends:
                run = measure(backend, built, args.postgres, args.profile, Path(tmp))
                due = run.phase("due")
                print(
                    f"   {backend}: prepared in {run.prepare_s:.1f} s; due {due['wall_s']:.2f} s, "
                    f"again {run.phase('again')['wall_s']:.2f} s, idle {run.phase('idle')['wall_s']:.2f} s; "
                    f"load average {load_average()}",
                    flush=True,
                )
                runs.append(run)
    print()
    print(table(runs))
    print()
    for line in verdicts(runs, args.smoke):
        print(f"- {line}")
    problems = [f"{r.backend} {r.members}: {p}" for r in runs for p in r.problems]
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"\nload average at the end {load_average()}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "started_at": started_at.isoformat(),
                    "machine": machine(),
                    "runs": [asdict(r) for r in runs],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
