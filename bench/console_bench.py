"""Console dashboard benchmark (issue 15): the dashboard of a street — 100 000 members, 500 000 tickets,
12 months of dues and theme days — renders through HTTP with p95 ≤ 300 ms on PostgreSQL, its trend charts
too, beside a reference (the bare `/console/login` page, which reads nothing but the session).

The street comes from bench/seed_branches.py (the real import: 2 000 网格党支部 of 50 members, ten to a
社区党委; kept in bench/.cache/), loaded into a scratch PostgreSQL database as bench/theme_day_bench.py does;
then, with bulk inserts (COPY):

  dues      the ledger of bench/dues_bench.py (counted from 2026-06; most paid June–November 2026, some
            behind 1, 3 or 6 months) and the same pattern a year earlier (December 2025–May 2026 paid);
  tickets   bench/seed_requests.py's month (2026-11) and open tickets, 500 000 in all;
  events    a theme day per branch for each of the 12 months, every member invited, ~80 % present, a
            record for most;
  mobile    a report-in for ~70 % of the mobile members each month;
  notices   each month, an announcement to ten communities and two to the whole street, one outbox row
            per member (2.5 M rows, sent by one channel or another, the elderly among them).

Then ANALYZE (a database in service has planner statistics), and one fresh process (`--child`) serves the
app on a local port (aiohttp's test server: real HTTP) and, as of 2026-11-28 10:00 Beijing, logs in as an
administrator (password) and as a community secretary (the chat's 登录 code), and times N requests each
of: the dashboard (`/console/`, the month 2026-11: the admin's is every unit, the secretary's their
community), each of the five charts (`/console/charts/{section}.svg`), and `/console/login`. The first
request of each kind is reported apart (`cold`): the trends of closed months are kept per process
(bot/console/dashboard.py), so later requests read only what changed.

    .venv/bin/python bench/console_bench.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/console_bench.py --smoke --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

`--smoke` seeds 200 members in 4 branches and 2 000 tickets, makes 5 requests each, and judges no figure;
a page that is not 200, or a chart that is not SVG, makes the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (ROOT, BENCH_DIR):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import dues_bench  # noqa: E402
import seed_branches  # noqa: E402
import seed_requests  # noqa: E402
import theme_day_bench as td  # noqa: E402  (the process and PostgreSQL helpers)

TARGET_P95_MS = 300.0
MONTH = "2026-11"
AT = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # Saturday 28 November, 10:00 Beijing
MONTHS = ["2025-12", *(f"2026-{m:02d}" for m in range(1, 12))]
EARLIER = ("2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05")
SECTIONS = ("dues", "requests", "theme", "mobile", "notices")
PASSWORD = "bench console password"
SEED = 15


@dataclass(frozen=True, slots=True)
class Size:
    members: int
    branches: int
    month: int  # tickets filed in 2026-11
    open: int  # open tickets (filed before the moment)
    n: int  # requests per kind


FULL = Size(100_000, 2_000, 450_000, 50_000, 50)
SMOKE = Size(200, 4, 2_000, 500, 5)


# --- the seed --------------------------------------------------------------------------------------


def _members(path: Path) -> list[tuple[int, int, str, str, int | None]]:
    """(member id, unit id, unit path, kind, birth year) of every member of the seeded file."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return [
            (int(i), int(u), str(p), str(k), y)
            for i, u, p, k, y in conn.execute(
                "SELECT m.id, m.unit_id, o.path, m.kind, m.birth_year FROM members m "
                "JOIN org_units o ON o.id = m.unit_id ORDER BY m.id"
            )
        ]


def _branch_of(path: str) -> str:
    """The 网格党支部 a member's unit is, or is under (a community's own members: the community)."""
    parts = path.split("/")
    return "/".join(parts[:3]) if len(parts) >= 3 else path


async def _copy(conn: Any, name: str, rows: list[dict[str, Any]]) -> int:
    """COPY rows into a table, every column the model's default where a row leaves it out (the model's
    defaults are SQLAlchemy's, not the database's); JSON as text."""
    from sqlalchemy import JSON

    from models.base import Base

    table = Base.metadata.tables[name]
    columns = [c for c in table.columns if not (c.primary_key and c.name not in rows[0])] if rows else []
    defaults: dict[str, Any] = {}
    for c in columns:
        if c.default is not None and getattr(c.default, "is_scalar", False):
            defaults[c.name] = c.default.arg  # type: ignore[attr-defined]
        elif c.default is not None and getattr(c.default, "is_callable", False):
            defaults[c.name] = c.default.arg(None)  # type: ignore[attr-defined]
        else:
            defaults[c.name] = None
    json_columns = {c.name for c in columns if isinstance(c.type, JSON)}

    def value(row: dict[str, Any], column: str) -> Any:
        v = row.get(column, defaults[column])
        return json.dumps(v) if column in json_columns else v

    for start in range(0, len(rows), 50_000):
        part = rows[start : start + 50_000]
        records = [tuple(value(r, c.name) for c in columns) for r in part]
        await conn.copy_records_to_table(name, records=records, columns=[c.name for c in columns])
    return len(rows)


async def seed_rest(url: str, built: seed_branches.Built, size: Size) -> dict[str, int]:
    """Dues a year back, events, mobile report-ins and notices, by COPY; returns the rows written."""
    import asyncpg

    rng = random.Random(SEED)
    members = _members(built.path)
    with closing(sqlite3.connect(f"file:{built.path}?mode=ro", uri=True)) as conn:
        units = {str(p): int(i) for i, p in conn.execute("SELECT id, path FROM org_units")}
    conn = await asyncpg.connect(td._admin_dsn(url))
    written: dict[str, int] = {}
    try:
        # Dues: the same members paid December 2025–May 2026 too (dues_bench wrote June–November).
        at = datetime(2026, 5, 31, 2, 0, tzinfo=UTC)
        entries = [
            {"member_id": m_id, "unit_id": unit_id, "month": month, "kind": "payment", "amount_fen": 2500,
             "paid_on": date(2026, 5, 31), "source": "import", "note": "", "created_at": at}
            for m_id, unit_id, _, _, _ in members
            if rng.random() >= 0.06
            for month in EARLIER
        ]  # fmt: skip
        written["dues_entries (earlier)"] = await _copy(conn, "dues_entries", entries)
        # Theme days: one per branch per month, everyone of the branch invited, ~80 % present.
        by_branch: dict[str, list[int]] = {}
        for m_id, _, path, _, _ in members:
            by_branch.setdefault(_branch_of(path), []).append(m_id)
        branches = [p for p in by_branch if p in units and p.count("/") == 2]
        events: list[dict[str, Any]] = []
        invitations: list[dict[str, Any]] = []
        attendance: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        event_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM events"))
        for month in MONTHS:
            day = datetime(int(month[:4]), int(month[5:]), 20, 6, 0, tzinfo=UTC)
            closed = month < MONTH
            for path in branches:
                event_id += 1
                events.append(
                    {"id": event_id, "key": f"bench:{units[path]}:{month}", "kind": "theme_day",
                     "unit_id": units[path], "month": month, "starts_at": day,
                     "status": "closed" if closed else "planned", "closed_at": day if closed else None,
                     "created_at": day, "updated_at": day}
                )  # fmt: skip
                for m_id in by_branch[path]:
                    invitations.append(
                        {"event_id": event_id, "member_id": m_id, "created_at": day - timedelta(days=3)}
                    )
                    if closed and rng.random() < 0.8:
                        attendance.append({"event_id": event_id, "member_id": m_id, "how": "code", "at": day})
                if closed and rng.random() < 0.9:
                    records.append(
                        {"event_id": event_id, "text": "纪实", "created_at": day, "updated_at": day}
                    )
        written["events"] = await _copy(conn, "events", events)
        written["event_invitations"] = await _copy(conn, "event_invitations", invitations)
        written["event_attendance"] = await _copy(conn, "event_attendance", attendance)
        written["event_records"] = await _copy(conn, "event_records", records)
        await conn.execute(f"SELECT setval(pg_get_serial_sequence('events', 'id'), {event_id + 1}, false)")
        # Mobile report-ins: ~70 % of the mobile members each month.
        mobile = [m for m, _, _, kind, _ in members if kind == "流动"]
        reports = []
        for month in MONTHS:
            at_ = datetime(int(month[:4]), int(month[5:]), 10, 2, 0, tzinfo=UTC)
            reports += [
                {
                    "member_id": m,
                    "month": month,
                    "text": "在外地",
                    "place": "上海市",
                    "reported_at": at_,
                    "updated_at": at_,
                }
                for m in mobile
                if rng.random() < 0.7
            ]
        written["mobile_reports"] = await _copy(conn, "mobile_reports", reports)
        # Notices: each month, an announcement to ten communities (one outbox row per member).
        communities = sorted({"/".join(p.split("/")[:2]) for p in units if p.count("/") >= 1})
        by_community: dict[str, list[tuple[int, bool]]] = {}
        for m_id, _, path, _, year in members:
            if path.count("/") >= 1:
                voice = year is not None and 2026 - year >= 70
                by_community.setdefault("/".join(path.split("/")[:2]), []).append((m_id, voice))
        notice_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM notices"))
        notices: list[dict[str, Any]] = []
        outbox: list[dict[str, Any]] = []
        channels = ("customer_service", "template", "mass_send")
        for month in MONTHS:
            at_ = datetime(int(month[:4]), int(month[5:]), 12, 2, 0, tzinfo=UTC)
            for c in rng.sample(communities, min(10, len(communities))):
                notice_id += 1
                people = by_community.get(c, [])
                notices.append(
                    {"id": notice_id, "kind": "announcement", "text": "通知", "author": "member:bench",
                     "unit_path": c, "audience": "all", "audience_label": c, "recipients": len(people),
                     "created_at": at_}
                )  # fmt: skip
                for m_id, voice in people:
                    roll = rng.random()
                    status, channel = (
                        ("sent", rng.choice(channels)) if roll < 0.85
                        else ("relayed", "relay") if roll < 0.9
                        else ("waiting-next-reply", "next_reply") if roll < 0.96
                        else ("failed", None)
                    )  # fmt: skip
                    done = at_ + timedelta(hours=rng.choice((1, 2, 5, 30)))
                    outbox.append(
                        {"idempotency_key": f"notice:{notice_id}:member:{m_id}", "kind": "notice",
                         "member_id": m_id, "notice_id": notice_id, "wants_voice": voice, "channel": channel,
                         "status": status, "attempts": 1, "created_at": at_, "updated_at": done,
                         "relay_confirmed_at": done if status == "relayed" else None}
                    )  # fmt: skip
        # And twice a month an announcement to the whole street (one outbox row per member: 2.4 M rows in
        # the year); November's second on the 27th, a day before the moment timed (still being settled).
        street = min(units, key=lambda p: p.count("/"))
        everyone = [person for people in by_community.values() for person in people]
        for month in MONTHS:
            for day in (5, 27 if month == MONTH else 20):
                at_ = datetime(int(month[:4]), int(month[5:]), day, 2, 0, tzinfo=UTC)
                notice_id += 1
                notices.append(
                    {"id": notice_id, "kind": "announcement", "text": "通知", "author": "member:bench",
                     "unit_path": street, "audience": "all", "audience_label": street,
                     "recipients": len(everyone), "created_at": at_}
                )  # fmt: skip
                for m_id, voice in everyone:
                    roll = rng.random()
                    status, channel = (
                        ("sent", channels[int(roll * 100) % 3]) if roll < 0.9 else ("failed", None)
                    )
                    outbox.append(
                        {"idempotency_key": f"notice:{notice_id}:member:{m_id}", "kind": "notice",
                         "member_id": m_id, "notice_id": notice_id, "wants_voice": voice, "channel": channel,
                         "status": status, "attempts": 1, "created_at": at_,
                         "updated_at": at_ + timedelta(hours=1), "relay_confirmed_at": None}
                    )  # fmt: skip
        written["notices"] = await _copy(conn, "notices", notices)
        written["outbox"] = await _copy(conn, "outbox", outbox)
        await conn.execute(f"SELECT setval(pg_get_serial_sequence('notices', 'id'), {notice_id + 1}, false)")
    finally:
        await conn.close()
    return written


# --- the child: the app over HTTP ------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def child(url: str, spec: dict[str, Any]) -> dict[str, Any]:
    from aiohttp.test_utils import TestClient, TestServer
    from seed_community import DATA_KEY, member_openid

    from bot.app import create_app
    from bot.clock import FixedClock
    from bot.domain import console
    from bot.settings import Settings
    from models import Admin
    from models.db import Database
    from tests.console import csrf_of, log_in, login_page
    from tests.wechat import TOKEN

    settings = Settings(  # type: ignore[call-arg]
        wechat_token=TOKEN,
        wechat_appid="wx0123456789abcdef",
        database_url=url,
        data_key=DATA_KEY,
        dues_start_month=MONTHS[0],  # the ledger's first month: every member owes from it
        identity_poll_s=0,
        write_behind_interval_s=3600,
        _env_file=None,
    )
    clock = FixedClock(AT)
    out: dict[str, Any] = {"phases": [], "problems": []}
    db = Database(url)

    def admin(session: Any) -> None:
        if session.query(Admin).filter_by(openid="o-bench-admin").first() is not None:
            return  # a database kept by --keep: made by its first run
        session.add(Admin(name="管理员", openid="o-bench-admin", created_at=AT))
        session.flush()
        console.set_password(session, "管理员", PASSWORD, AT)

    try:
        await db.run(admin)
    finally:
        await db.dispose()
    n = int(spec["n"])
    for who in ("admin", "secretary", "admin, warmed at login"):
        warming = who.endswith("login")
        app_settings = settings.model_copy(update={"console_warm": warming})
        client = TestClient(TestServer(create_app(app_settings, clock=clock)))
        await client.start_server()
        try:
            started = time.perf_counter()
            if who.startswith("admin"):
                html = await login_page(client)  # with the warm-up on, this starts it
                resp = await client.post(
                    "/console/login/password",
                    data={"_csrf": csrf_of(html), "name": "管理员", "password": PASSWORD},
                    allow_redirects=False,
                )
                if resp.status != 302:
                    out["problems"].append(f"{who} login: {resp.status}")
                    continue
            else:
                await log_in(client, clock, member_openid(int(spec["secretary"])))
            if warming:
                await _warmed_phase(client, out, who, n, started)
                continue
            paths = [("login", "/console/login"), ("dashboard", f"/console/?month={MONTH}")]
            paths += [(f"chart {s}", f"/console/charts/{s}.svg?month={MONTH}") for s in SECTIONS]
            for name, path in paths:
                times: list[float] = []
                for _ in range(n + 1):
                    started = time.perf_counter()
                    resp = await client.get(path, allow_redirects=False)
                    body = await resp.read()
                    times.append((time.perf_counter() - started) * 1000)
                    ok = resp.status in ((200, 302) if name == "login" else (200,))
                    if not ok or (name.startswith("chart") and b"<svg" not in body):
                        out["problems"].append(f"{who} {name}: {resp.status}")
                        break
                    if name == "dashboard" and b'id="dues"' not in body:
                        out["problems"].append(f"{who} dashboard without its sections")
                        break
                warm = times[1:] or times
                out["phases"].append(
                    {
                        "who": who,
                        "name": name,
                        "cold_ms": times[0],
                        "p50_ms": _pct(warm, 0.5),
                        "p95_ms": _pct(warm, 0.95),
                        "n": len(warm),
                    }
                )
            if who == "admin":
                await _after_changes(client, out, who, n, url, clock, settings)
        finally:
            await client.close()
    return out


async def _dashboard(client: Any, out: dict[str, Any], who: str) -> float:
    started = time.perf_counter()
    resp = await client.get(f"/console/?month={MONTH}", allow_redirects=False)
    body = await resp.read()
    if resp.status != 200 or b'id="dues"' not in body:
        out["problems"].append(f"{who} dashboard: {resp.status}")
    return (time.perf_counter() - started) * 1000


async def _warmed_phase(client: Any, out: dict[str, Any], who: str, n: int, started: float) -> None:
    """The warm-up on: the first dashboard right after the login (it waits for what the login page started
    counting; a person takes longer to log in than the bench), then n more."""
    first = await _dashboard(client, out, who)
    since_login_page = (time.perf_counter() - started) * 1000
    times = [await _dashboard(client, out, who) for _ in range(n)]
    out["phases"].append(
        {
            "who": who,
            "name": f"dashboard (ready {since_login_page / 1000:.1f} s after the login page)",
            "cold_ms": first,
            "p50_ms": _pct(times, 0.5),
            "p95_ms": _pct(times, 0.95),
            "n": len(times),
        }
    )


async def _after_changes(
    client: Any, out: dict[str, Any], who: str, n: int, url: str, clock: Any, settings: Any
) -> None:
    """The dashboard after each of n changes made between two views, as the street's month goes on: a
    payment recorded (bot.domain.dues_ledger, as chat and the console record one), a ticket taken; then n
    views 31 s apart (the announcements still being settled are counted again after 30 s)."""
    from sqlalchemy import select, update

    from bot.domain import dues
    from bot.domain.dues_ledger import Recorder, pay_months
    from models import DuesEntry, Member, RequestTicket
    from models.db import Database

    db = Database(url)
    try:

        def unpaid(session: Any) -> list[int]:
            paid = select(DuesEntry.member_id).where(DuesEntry.month == MONTH)
            query = select(Member.id).where(Member.active.is_(True), Member.id.not_in(paid)).limit(n)
            return [int(i) for i in session.scalars(query)]

        def open_tickets(session: Any) -> list[int]:
            query = select(RequestTicket.id).where(RequestTicket.taken_at.is_(None)).limit(n)
            return [int(i) for i in session.scalars(query)]

        members, tickets = await db.run(unpaid), await db.run(open_tickets)

        def pay(member_id: int) -> Any:
            def run(session: Any) -> None:
                start = dues.start_month(session, settings.dues_start_month, settings.timezone)
                rec = Recorder(
                    by=None, now=clock.now(), source="bench", start=start, timezone=settings.timezone
                )
                pay_months(session, member_id, [MONTH], rec)

            return run

        def take(ticket_id: int) -> Any:
            taken = update(RequestTicket).where(RequestTicket.id == ticket_id)
            return lambda session: session.execute(taken.values(taken_at=clock.now(), updated_at=clock.now()))

        def later(_: Any) -> Any:  # nothing changed; the clock moves past the young notices' 30 s
            clock.advance(31)
            return lambda session: None

        for name, changes in (
            ("dashboard after a payment", map(pay, members)),
            ("dashboard after a ticket taken", map(take, tickets)),
            ("dashboard 31 s after the last", map(later, range(n))),
        ):
            times = []
            for change in changes:
                await db.run(change)
                times.append(await _dashboard(client, out, who))
            if not times:
                out["problems"].append(f"{who} {name}: nothing to change")
                continue
            out["phases"].append(
                {
                    "who": who,
                    "name": name,
                    "cold_ms": times[0] if times else 0.0,
                    "p50_ms": _pct(times, 0.5),
                    "p95_ms": _pct(times, 0.95),
                    "n": len(times),
                }
            )
    finally:
        await db.dispose()


def _run_child(url: str, spec: dict[str, Any]) -> dict[str, Any]:
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
        raise RuntimeError(f"the child process exited with {done.returncode}\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


@dataclass(slots=True)
class Run:
    size: Size
    seed_s: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def measure(
    built: seed_branches.Built, size: Size, postgres: str, *, keep: bool = False, reuse: str | None = None
) -> Run:
    """Seed a scratch database (or `reuse` one kept by an earlier `keep` run) and time the child on it;
    the database is dropped unless `keep`."""
    run = Run(size)
    name = reuse or f"pb_bench_console_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = td._url_for(postgres, name)
    town = seed_requests.Town.of(built.path, size.branches)
    plan = seed_requests.Plan(town, size.month, size.open)
    try:
        if reuse:
            secretary = built.shape.first_of_branch(0) + 5
            found = _run_child(url, {"n": size.n, "secretary": secretary})
            run.phases, run.problems = found["phases"], found["problems"]
            return run
        started = time.perf_counter()
        asyncio.run(td._pg_exec(postgres, f"CREATE DATABASE {name}"))
        asyncio.run(td._pg_load(url, built.path))
        asyncio.run(dues_bench.seed_ledger(url))
        asyncio.run(seed_requests.write_postgres(url, plan))
        run.rows = asyncio.run(seed_rest(url, built, size))
        run.rows["request_tickets"] = plan.written
        asyncio.run(td._pg_exec(url, "ANALYZE", "CHECKPOINT"))
        run.seed_s = time.perf_counter() - started
        # The first community's 书记 (bench/seed_branches.py: the 6th member of its first branch).
        secretary = built.shape.first_of_branch(0) + 5
        found = _run_child(url, {"n": size.n, "secretary": secretary})
        run.phases, run.problems = found["phases"], found["problems"]
    finally:
        if keep or reuse:
            print(f"database kept: {name} (--reuse {name})")
        else:
            asyncio.run(td._pg_exec(postgres, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return run


def table(run: Run) -> str:
    lines = [
        "| who | request | cold ms | p50 ms | p95 ms | n |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for p in run.phases:
        figures = f"{p['cold_ms']:.0f} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} | {p['n']}"
        lines.append(f"| {p['who']} | {p['name']} | {figures} |")
    return "\n".join(lines)


def verdicts(run: Run, smoke: bool) -> list[str]:
    found = [f"PROBLEM {p}" for p in run.problems]
    if smoke:
        return found
    for p in run.phases:
        if p["name"] == "login":
            continue
        ok = p["p95_ms"] <= TARGET_P95_MS
        verdict = "ok" if ok else "OVER"
        p95 = f"p95 {p['p95_ms']:.0f} ms (target ≤ {TARGET_P95_MS:.0f})"
        found.append(f"{verdict} {p['who']} {p['name']}: {p95}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL URL (postgresql+asyncpg://…/postgres)")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database (prints its name)")
    parser.add_argument("--reuse", metavar="NAME", help="time a database kept by --keep; seed nothing")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(sys.stdin.read())
        print(json.dumps(asyncio.run(child(args.child, spec))))
        return 0
    if not args.postgres:
        parser.error("the dashboard's target is on PostgreSQL: give --postgres URL")
    size = SMOKE if args.smoke else FULL
    with tempfile.TemporaryDirectory():
        built = seed_branches.branches_db(size.members, size.branches)
        print(f"seeded street: {built.path.name} ({'cached' if built.cached else f'{built.seconds:.0f} s'})")
        run = measure(built, size, args.postgres, keep=args.keep, reuse=args.reuse)
    print(f"seed: {run.seed_s:.0f} s; rows: {run.rows}")
    print(f"load average: {td.load_average()}")
    print(table(run))
    found = verdicts(run, args.smoke)
    for line in found:
        print(line)
    return 1 if any(line.startswith(("PROBLEM", "OVER")) for line in found) else 0


if __name__ == "__main__":
    raise SystemExit(main())
