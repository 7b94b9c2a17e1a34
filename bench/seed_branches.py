"""A community of many small branches for the theme-day benchmark (bench/theme_day_bench.py), seeded the
way a deployment gets one: an organisation CSV and a member roster CSV in the formats of content/demo/
(shared/data/README.md), loaded with the real import (`bot.domain.importing.import_org`,
`import_members`), then every member bound to a WeChat openid with one bulk insert into `bindings`.

bench/seed_community.py's community has eight building groups (400 members) per branch; the theme day is
held per branch, so this one has the shape the benchmark asks for: B grid branches (网格党支部) of N / B
members each (100 000 in 2 000 branches: 50), in two building groups (楼栋党小组) per branch, ten branches per
community (社区党委) under one street. Every group has a 组长, every branch a 书记, a 副书记 and two 委员
(listed on the branch), every community a 书记 and a 副书记 (listed on the community: they attend the
community's own theme day). Branches have `每月20日` as their 主题党日, communities `每月25日`. Kinds, ages,
helpers for the elderly and phones as in bench/seed_community.py, from a seeded generator.

The real import of 100 000 members takes about a minute, so the built database is kept under bench/.cache/
(git-ignored), keyed on N, B and a digest of this file, the models and migrations and the import code.

    .venv/bin/python bench/seed_branches.py --members 500 --branches 10 --out /tmp/branches.db
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import os
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for entry in (ROOT, BENCH_DIR):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))  # run as a script: partybot's packages and seed_community

from seed_community import (  # noqa: E402
    DATA_KEY,
    DESTINATIONS,
    GIVEN,
    KINDS,
    ROSTER_HEADER,
    SPECIALTIES,
    SURNAMES,
    VOLUNTEER_POSTS,
    SeedError,
    _check,
    _settle,
    _write_csv,
    member_openid,
)
from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bot.domain.importing import import_members, import_org  # noqa: E402
from bot.domain.privacy import Vault  # noqa: E402
from models import Binding, Member, WeChatUser  # noqa: E402
from models.db import Database  # noqa: E402
from models.migrate import upgrade  # noqa: E402

CACHE_DIR = BENCH_DIR / ".cache"
DEPENDS_ON = (
    "bench/seed_branches.py",
    "bench/seed_community.py",
    "models",
    "bot/domain/importing",
    "bot/domain/places.py",
)
SEED = 20261213
GROUPS_PER_BRANCH = 2
BRANCHES_PER_COMMUNITY = 10
BRANCH_RULE = "每月20日"
COMMUNITY_RULE = "每月25日"
STREET = "青禾街道党工委"
CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class Shape:
    members: int
    branches: int

    @property
    def communities(self) -> int:
        return math.ceil(self.branches / BRANCHES_PER_COMMUNITY)

    @property
    def groups(self) -> int:
        return self.branches * GROUPS_PER_BRANCH

    def branch_of_member(self, i: int) -> int:
        """Members are spread evenly: branch b has members [b·N/B, (b+1)·N/B)."""
        return i * self.branches // self.members

    def first_of_branch(self, b: int) -> int:
        return -(-b * self.members // self.branches)  # ceil(b·N/B)

    def group_of_member(self, i: int) -> int:
        b = self.branch_of_member(i)
        start, end = self.first_of_branch(b), self.first_of_branch(b + 1)
        return b * GROUPS_PER_BRANCH + (i - start) * GROUPS_PER_BRANCH // max(1, end - start)


def community_path(c: int) -> str:
    return f"{STREET}/第{c + 1}社区党委"


def branch_path(b: int) -> str:
    return f"{community_path(b // BRANCHES_PER_COMMUNITY)}/第{b % BRANCHES_PER_COMMUNITY + 1}网格党支部"


def building_name(g: int) -> str:
    """Globally unique (Building.name is): the community's number, then the building's within it."""
    c = g // (GROUPS_PER_BRANCH * BRANCHES_PER_COMMUNITY)
    return f"{c + 1}区{g % (GROUPS_PER_BRANCH * BRANCHES_PER_COMMUNITY) + 1}号楼"


def group_path(g: int) -> str:
    return f"{branch_path(g // GROUPS_PER_BRANCH)}/{building_name(g)}党小组"


def write_org_csv(path: Path, shape: Shape) -> int:
    rows: list[list[str]] = [["组织路径", "类型", "主题党日", "覆盖楼栋"], [STREET, "街道党工委", "", ""]]
    for c in range(shape.communities):
        rows.append([community_path(c), "社区党委", COMMUNITY_RULE, ""])
    for b in range(shape.branches):
        buildings = ";".join(building_name(b * GROUPS_PER_BRANCH + k) for k in range(GROUPS_PER_BRANCH))
        rows.append([branch_path(b), "网格党支部", BRANCH_RULE, buildings])
    for g in range(shape.groups):
        rows.append([group_path(g), "楼栋党小组", "", building_name(g)])
    _write_csv(path, rows)
    return len(rows) - 1


def write_roster_csv(path: Path, shape: Shape, rng: random.Random) -> None:
    rows: list[list[str]] = [ROSTER_HEADER]
    kinds = [k for k, _, _ in KINDS]
    weights = [w for _, w, _ in KINDS]
    years = {k: span for k, _, span in KINDS}
    leader, last_group = "", -1
    for i in range(shape.members):
        g = shape.group_of_member(i)
        b = g // GROUPS_PER_BRANCH
        place = i - shape.first_of_branch(b)  # within the branch
        number = f"M{i + 1:06d}"
        unit, post = group_path(g), ""
        if g != last_group:
            post, leader, last_group = "组长", number, g
        elif g % GROUPS_PER_BRANCH == 0 and 1 <= place <= 4:
            unit, post = branch_path(b), ("书记", "副书记", "委员", "委员")[place - 1]
        elif b % BRANCHES_PER_COMMUNITY == 0 and g % GROUPS_PER_BRANCH == 0 and 5 <= place <= 6:
            unit, post = community_path(b // BRANCHES_PER_COMMUNITY), ("书记", "副书记")[place - 5]
        kind = rng.choices(kinds, weights)[0]
        born = rng.randint(*years[kind])
        joined = date(min(born + rng.randint(18, 40), 2025), rng.randint(1, 12), rng.randint(1, 28))
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2))))
        phone = "" if rng.random() < 0.05 else f"1{rng.choice('3589')}{i + 1:09d}"
        base = {"在职": rng.randint(3000, 15000), "离退休": rng.randint(2000, 6000)}.get(kind)
        rows.append(
            [
                number,
                name,
                rng.choice("男女"),
                f"{born}-{rng.randint(1, 12):02d}",
                phone,
                "预备" if rng.random() < 0.05 else "正式",
                joined.isoformat(),
                kind,
                post,
                unit,
                building_name(g),
                f"{rng.randint(1, 4)}单元{rng.randint(1, 18)}0{rng.randint(1, 4)}",
                rng.choice(SPECIALTIES),
                ";".join(rng.sample(VOLUNTEER_POSTS, rng.choice((0, 0, 1, 2)))),
                "",
                leader if born < 1950 and leader != number else "",
                "" if base is None else str(base),
                rng.choice(DESTINATIONS) if kind == "流动" else "",
            ]
        )
    _write_csv(path, rows)


# --- building the database ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Built:
    path: Path  # the seeded SQLite database: copy it, never run on it
    shape: Shape
    cached: bool
    seconds: float
    steps: str


def source_digest() -> str:
    digest = hashlib.sha256()
    for name in DEPENDS_ON:
        base = ROOT / name
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            if "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def branches_db(members: int, branches: int, cache_dir: Path = CACHE_DIR, *, log: bool = True) -> Built:
    """The seeded database for N members in B branches: from cache_dir when current, else built there."""
    if not 0 < branches <= members:
        raise SeedError(f"need 0 < branches ≤ members, not {branches} branches for {members} members")
    shape = Shape(members, branches)
    prefix = f"branches-{members}-{branches}-"
    target = cache_dir / f"{prefix}{source_digest()}.db"
    if target.exists():
        return Built(target, shape, True, 0.0, "from the cache")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    started = time.perf_counter()
    steps = asyncio.run(_build(partial, shape, log=log))
    _settle(partial)
    os.replace(partial, target)
    for old in cache_dir.glob(f"{prefix}*.db"):
        if old != target:
            old.unlink()
    return Built(target, shape, False, time.perf_counter() - started, steps)


async def _build(path: Path, shape: Shape, *, log: bool) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    timings: list[str] = []
    clock = time.perf_counter()

    def step(what: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings.append(f"{what} {now - clock:.1f} s")
        if log:
            print(f"   seeding: {what} in {now - clock:.1f} s", flush=True)
        clock = now

    rng = random.Random(SEED)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="partybot-seed-") as tmp:
        org_csv, roster_csv = Path(tmp) / "org.csv", Path(tmp) / "roster.csv"
        units = write_org_csv(org_csv, shape)
        write_roster_csv(roster_csv, shape, rng)
        step(f"{units:,} units and {shape.members:,} members written as CSV")
        await upgrade(url)
        step("migrated")
        db = Database(url)
        try:
            _check(await import_org(db, org_csv, now=now), units)
            step("org import")
            _check(await import_members(db, Vault(DATA_KEY), roster_csv, now=now), shape.members)
            step("roster import")
            await db.run(lambda session: _bind_all(session, shape.members, now))
            step(f"{shape.members:,} bindings inserted")
        finally:
            await db.dispose()
    return ", ".join(timings)


def _bind_all(session: Session, members: int, now: datetime) -> None:
    ids = {number: member_id for number, member_id in session.execute(select(Member.number, Member.id))}
    bindings = [
        {"openid": member_openid(i), "member_id": ids[f"M{i + 1:06d}"], "method": "demo", "bound_at": now}
        for i in range(members)
    ]
    users = [
        {"openid": member_openid(i), "subscribed": True, "first_seen_at": now, "last_seen_at": now,
         "subscribed_at": now, "window_left": 0}
        for i in range(members)
    ]  # fmt: skip
    for table, rows in ((Binding, bindings), (WeChatUser, users)):
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(table), rows[start : start + CHUNK])


def counts(path: Path) -> dict[str, int]:
    """Rows per table of interest in a seeded file (for the report)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("org_units", "members", "bindings")
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--branches", type=int, default=2_000)
    parser.add_argument("--out", type=Path, required=True, help="where to write a copy of the database")
    parser.add_argument(
        "--no-cache", action="store_true", help="build it, neither using nor filling the cache"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="partybot-seed-") as tmp:
        built = branches_db(args.members, args.branches, Path(tmp) if args.no_cache else CACHE_DIR)
        with (
            contextlib.closing(sqlite3.connect(built.path)) as src,
            contextlib.closing(sqlite3.connect(args.out)) as dst,
        ):
            src.backup(dst)
    print(f"{args.out}: {counts(args.out)} ({built.steps})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
