"""党费 benchmark (issue 13): the `dues_reminders` job for 100 000 members enqueues its reminders in ≤ 60 s
with flat memory, and `partybot dues report` for a street of 20 000 members takes ≤ 5 s, on SQLite and
PostgreSQL.

The community comes from bench/seed_branches.py (the real import of an org CSV and a roster CSV, every
member bound; kept in bench/.cache/). Each run gets its own copy (SQLite: a file copy; `--postgres URL`: a
scratch database loaded from it, as bench/theme_day_bench.py does), and then its ledger: dues counted from
2026-06, most members paid June–November 2026, 10 % not November, 2 % not September–November (3 months)
and 1 % nothing since June (6 months), written with bulk inserts.

Each run is a fresh process (`--child`) that runs, as of 2026-12-05 09:00 Beijing:

  remind  the job's first run of the month: a reminder to everyone who has not paid December (one
          outbox row each, in one notice per unit), a note and a secretary's line for 3 months unpaid, the
          Art. 9 alert for 6. Target ≤ 60 s at 100 000 members.
  again   the same moment: nothing to write — the cost of each 10-minute run that month.
  report  the month's report (`partybot dues report --month 2026-11`, the command's own code, text table)
          for the whole database. Target ≤ 5 s at 20 000 members.

Memory (RSS growth, and in a second process the Python peak by tracemalloc) of the remind run is measured
at two sizes with the same branch size: flat means the peak does not grow with N.

    .venv/bin/python bench/dues_bench.py                                      # SQLite
    .venv/bin/python bench/dues_bench.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/dues_bench.py --smoke          # does it run? (tests/test_bench.py)

`--smoke` runs 200 members in 4 branches and 500 in 10 and judges no figure; a wrong count (a member not
reminded, reminded twice, a second run that writes, a wrong alert count) makes the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (ROOT, BENCH_DIR):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import seed_branches  # noqa: E402
import theme_day_bench as td  # noqa: E402  (the process, memory and PostgreSQL helpers)

REMIND_TARGET_S = 60.0
REPORT_TARGET_S = 5.0
FLAT_RATIO = 1.5
START = "2026-06"
PAID = ("2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11")
AT = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 09:00 Beijing on the 5th
REPORT_MONTH = "2026-11"
TABLES = ("notices", "outbox")
DEFAULT_SIZES = ((25_000, 500), (100_000, 2_000))
REPORT_SIZE = (20_000, 400)
SMOKE_SIZES = ((200, 4), (500, 10))
SEED = 13


# --- the ledger ------------------------------------------------------------------------------------


def ledger_plan(member_ids: list[int]) -> tuple[list[tuple[int, str]], dict[str, int]]:
    """(member, month) rows paid, and how many members are in each state."""
    rng = random.Random(SEED)
    rows: list[tuple[int, str]] = []
    counts = {"paid_up": 0, "behind_1": 0, "behind_3": 0, "behind_6": 0}
    for member_id in member_ids:
        roll = rng.random()
        if roll < 0.01:
            counts["behind_6"] += 1
            continue
        if roll < 0.03:
            months, state = PAID[:3], "behind_3"
        elif roll < 0.13:
            months, state = PAID[:5], "behind_1"
        else:
            months, state = PAID, "paid_up"
        counts[state] += 1
        rows += [(member_id, m) for m in months]
    return rows, counts


async def seed_ledger(url: str) -> dict[str, int]:
    from sqlalchemy import insert, select

    from models import DuesEntry, Member
    from models.db import Database

    db = Database(url)
    try:
        async with db.read() as session:
            members = [
                (int(i), int(u)) for i, u in (await session.execute(select(Member.id, Member.unit_id))).all()
            ]
        unit_of = dict(members)
        rows, counts = ledger_plan([m for m, _ in members])
        now = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
        for start in range(0, len(rows), 20_000):
            chunk = [
                {
                    "member_id": m,
                    "unit_id": unit_of[m],
                    "month": month,
                    "kind": "payment",
                    "amount_fen": 2500,
                    "paid_on": date(2026, 11, 30),
                    "source": "import",
                    "note": "",
                    "created_at": now,
                }
                for m, month in rows[start : start + 20_000]
            ]
            await db.run(lambda session, chunk=chunk: session.execute(insert(DuesEntry), chunk))
        counts["entries"] = len(rows)
        return counts
    finally:
        await db.dispose()


# --- the child -------------------------------------------------------------------------------------


async def _counts(db: Any) -> dict[str, int]:
    from sqlalchemy import text

    async with db.read() as session:
        return {t: int(await session.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES}


async def _check(db: Any) -> dict[str, int]:
    from sqlalchemy import text

    reminders = "dues:%:2026-12:remind_5"
    joined = "FROM outbox o JOIN notices n ON n.id = o.notice_id WHERE n.author LIKE :key"
    async with db.read() as session:

        async def one(sql: str, key: str = "") -> int:
            return int(await session.scalar(text(sql), {"key": key} if key else {}) or 0)

        def notices(kind: str) -> str:
            return f"dues:%:2026-12:{kind}"

        count = "SELECT count(*) FROM notices WHERE author LIKE :key"
        return {
            "reminded_rows": await one(f"SELECT count(*) {joined}", reminders),
            "reminded_members": await one(f"SELECT count(DISTINCT o.member_id) {joined}", reminders),
            "notes": await one(count, notices("overdue")),
            "lines": await one(count, notices("secretary")),
            "alerts": await one(count, notices("alert")),
            "members": await one("SELECT count(*) FROM members WHERE active"),
        }


async def _report(url: str) -> tuple[float, int]:
    """What `partybot dues report --month 2026-11` does, in process: read, audit, format the table."""
    from bot.cli.dues import _report as report_of
    from bot.cli.dues import line_cells
    from bot.cli.themeday import text_table
    from bot.settings import Settings

    settings = Settings(
        wechat_token="benchtoken",
        database_url=url,
        dues_start_month=START,
        _env_file=None,  # type: ignore[call-arg]
    )
    started = time.perf_counter()
    found = await report_of(settings, REPORT_MONTH, "", None)
    text = text_table(["编号"] * 8, [line_cells(row) for row in found.rows])
    return time.perf_counter() - started, len(text.splitlines()) - 2


async def child(url: str, traced: bool, counts: dict[str, int]) -> dict[str, Any]:
    import tracemalloc

    from bot.content import load_content
    from bot.settings import Settings
    from models.db import Database
    from scheduler.jobs import JobDeps, job_named

    settings = Settings(
        wechat_token="benchtoken",
        database_url=url,
        dues_start_month=START,
        _env_file=None,  # type: ignore[call-arg]
    )
    db = Database(url)
    deps = JobDeps(db, settings, load_content())
    job = job_named("dues_reminders")
    out: dict[str, Any] = {"phases": [], "problems": []}
    try:
        await _counts(db)
        for name in ("remind", "again"):
            before = await _counts(db)
            rss_before = td._status_kb("VmRSS")
            reset = td._reset_peak_rss()
            if traced:
                tracemalloc.start()
            cpu, wall = td._cpu_s(), time.perf_counter()
            summary = await job.run(deps, AT)
            wall, cpu = time.perf_counter() - wall, td._cpu_s() - cpu
            peak_py = 0
            if traced:
                _, peak_py = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            hwm = td._status_kb("VmHWM")
            after = await _counts(db)
            phase = {
                "name": name,
                "wall_s": wall,
                "cpu_s": cpu,
                "rows": {t: after[t] - before[t] for t in TABLES},
                "rss_growth_kb": (hwm - rss_before) if reset else None,
                "py_peak_kb": peak_py // 1024 if traced else None,
                "summary": summary,
            }
            out["phases"].append(phase)
            if name == "remind":
                check = await _check(db)
                phase["check"] = check
                unpaid = check["members"]  # nobody has paid December
                if check["reminded_rows"] != unpaid or check["reminded_members"] != unpaid:
                    out["problems"].append(f"remind: {check['reminded_rows']} reminders for {unpaid} members")
                behind = counts["behind_3"] + counts["behind_6"]
                if check["notes"] != behind or check["alerts"] != counts["behind_6"]:
                    out["problems"].append(f"remind: {check} for {counts}")
                if check["lines"] != counts["behind_3"]:
                    out["problems"].append(
                        f"remind: {check['lines']} secretary lines for {counts['behind_3']}"
                    )
            elif any(phase["rows"].values()):
                out["problems"].append(f"{name}: wrote {phase['rows']}, expected nothing")
        if not traced:
            seconds, lines = await _report(url)
            out["report"] = {"wall_s": seconds, "lines": lines}
    finally:
        await db.dispose()
    return out


# --- the runs --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    backend: str
    members: int
    branches: int
    counts: dict[str, int] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)
    traced: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def phase(self, name: str, traced: bool = False) -> dict[str, Any]:
        return next(p for p in (self.traced if traced else self.phases) if p["name"] == name)


def _run_child(url: str, traced: bool, counts: dict[str, int], label: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", url, "--counts", json.dumps(counts)]
    if traced:
        command.append("--traced")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")}
    env["PARTYBOT_LOG_LEVEL"] = "WARNING"
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=td.CHILD_TIMEOUT_S, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the {label} process exited with {done.returncode}\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


def measure(backend: str, built: seed_branches.Built, postgres: str | None, tmp: Path) -> Run:
    run = Run(backend, built.shape.members, built.shape.branches)
    label = f"{backend.lower()}-{built.shape.members}"
    names: list[str] = []
    try:
        if backend == "SQLite":
            urls = []
            for kind in ("timed", "traced"):
                path = tmp / f"{label}-{kind}.db"
                shutil.copyfile(built.path, path)
                urls.append(f"sqlite+aiosqlite:///{path}")
        else:
            assert postgres is not None
            stem = f"pb_bench_dues_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            names = [f"{stem}_{kind}" for kind in ("timed", "traced")]
            asyncio.run(td._pg_exec(postgres, f"CREATE DATABASE {names[0]}"))
            asyncio.run(td._pg_load(td._url_for(postgres, names[0]), built.path))
            asyncio.run(td._pg_exec(postgres, f"CREATE DATABASE {names[1]} TEMPLATE {names[0]}"))
            urls = [td._url_for(postgres, n) for n in names]
        for url in urls:
            run.counts = asyncio.run(seed_ledger(url))
            if backend != "SQLite":
                # A database in service has its planner statistics (autovacuum); a bulk load just made
                # has none, and the plans it gets without them are not the ones production sees.
                asyncio.run(td._pg_exec(url, "ANALYZE", "CHECKPOINT"))
        timed = _run_child(urls[0], False, run.counts, label)
        traced = _run_child(urls[1], True, run.counts, label + "-traced")
        run.phases, run.traced, run.report = timed["phases"], traced["phases"], timed.get("report", {})
        run.problems += timed["problems"] + [f"(traced) {p}" for p in traced["problems"]]
    finally:
        if names and postgres is not None:
            asyncio.run(td._pg_exec(postgres, *(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names)))
    return run


def table(runs: list[Run]) -> str:
    lines = [
        "| database | members / branches | run | wall | CPU | rows: notices / outbox | RSS growth "
        "| Python peak (tracemalloc) | job's summary |",
        "|---|---|---|---:|---:|---|---:|---:|---|",
    ]
    for run in runs:
        for phase in run.phases:
            traced = run.phase(phase["name"], traced=True)
            rows = " / ".join(f"{phase['rows'][t]:,}" for t in TABLES)
            lines.append(
                f"| {run.backend} | {run.members:,} / {run.branches:,} | {phase['name']} "
                f"| {phase['wall_s']:.2f} s | {phase['cpu_s']:.2f} s | {rows} "
                f"| {td._mb(phase['rss_growth_kb'])} | {td._mb(traced['py_peak_kb'])} | {phase['summary']} |"
            )
        if run.report:
            lines.append(
                f"| {run.backend} | {run.members:,} / {run.branches:,} | report {REPORT_MONTH} "
                f"| {run.report['wall_s']:.2f} s | | {run.report['lines']:,} lines | | | |"
            )
    return "\n".join(lines)


def verdicts(runs: list[Run], smoke: bool) -> list[str]:
    note = " (smoke: not judged)" if smoke else ""
    out: list[str] = []
    for backend in dict.fromkeys(r.backend for r in runs):
        mine = sorted((r for r in runs if r.backend == backend), key=lambda r: r.members)
        sizes = [r for r in mine if r.phases and r.members != REPORT_SIZE[0]] or mine
        largest = sizes[-1]
        took = largest.phase("remind")["wall_s"]
        met = "met" if took <= REMIND_TARGET_S else "NOT met"
        out.append(
            f"{backend}: remind at {largest.members:,} members took {took:.1f} s (≤ 60 s): {met}{note}"
        )
        for r in mine:
            if r.members == REPORT_SIZE[0] or smoke:
                ok = "met" if r.report["wall_s"] <= REPORT_TARGET_S else "NOT met"
                out.append(
                    f"{backend}: report at {r.members:,} members took {r.report['wall_s']:.2f} s "
                    f"(≤ 5 s): {ok}{note}"
                )
        if len(sizes) >= 2:
            small = sizes[0]
            for what, key, traced in (
                ("RSS growth", "rss_growth_kb", False),
                ("Python peak", "py_peak_kb", True),
            ):
                a, b = small.phase("remind", traced)[key], largest.phase("remind", traced)[key]
                if a is None or b is None:
                    continue
                ratio = b / a if a else float("inf")
                out.append(
                    f"{backend}: {what} of remind {td._mb(a)} at {small.members:,} → {td._mb(b)} at "
                    f"{largest.members:,} ({ratio:.2f}×): "
                    f"{'flat' if ratio <= FLAT_RATIO else 'NOT flat'}{note}"
                )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", help="members/branches,... (default 25000/500,100000/2000; plus 20000/400)"
    )
    parser.add_argument(
        "--postgres", metavar="URL", help="also on PostgreSQL (scratch databases on its server)"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--smoke", action="store_true", help="200/4 and 500/10, figures not judged")
    parser.add_argument("--cache-dir", type=Path, default=seed_branches.CACHE_DIR)
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--counts", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.traced, json.loads(args.counts)))), flush=True)
        return 0
    if args.sizes:
        sizes = td.parse_sizes(args.sizes)
    elif args.smoke:
        sizes = list(SMOKE_SIZES)
    else:
        sizes = [REPORT_SIZE, *DEFAULT_SIZES]
    backends = ([] if args.no_sqlite else ["SQLite"]) + (["PostgreSQL"] if args.postgres else [])
    if not backends:
        parser.error("--no-sqlite needs --postgres")
    print(
        f"dues benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {td.load_average()}",
        flush=True,
    )
    print(f"machine: {td.machine()}", flush=True)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="partybot-dues-") as tmp:
        for members, branches in sizes:
            built = seed_branches.branches_db(members, branches, args.cache_dir)
            print(f"== {members:,} members in {branches:,} branches", flush=True)
            for backend in backends:
                run = measure(backend, built, args.postgres, Path(tmp))
                print(
                    f"   {backend}: remind {run.phase('remind')['wall_s']:.2f} s, again "
                    f"{run.phase('again')['wall_s']:.2f} s, report {run.report.get('wall_s', 0):.2f} s; "
                    f"ledger {run.counts}",
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
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
