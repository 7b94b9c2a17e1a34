"""A large community for the webhook benchmark, seeded the way a deployment gets one: an organisation CSV
and a member roster CSV in the formats of content/demo/ (shared/data/README.md), loaded with the real
import (`bot.domain.importing.import_org`, `import_members`), then every member bound to a WeChat openid with
one bulk insert into `bindings` (binding itself is not what is measured), and every bound member plus a pool
of residents who follow the account but are not bound (the strangers) as followers in `wechat_users`.

The shape, for N members (100 000 by default): one street (街道党工委) → communities (社区党委) of ten grid
branches (网格党支部) → eight building groups (楼栋党小组) per branch, about 50 members each. Every group has
a 组长, every branch a 书记, a 副书记 and two 委员 (listed on the branch), every community a 书记 and a
副书记; kinds and ages are mixed as in a real ledger (elderly members have their group leader as helper,
mobile members a destination), 95 % have a phone. Names and all the rest come from a seeded random
generator: the same N gives the same community.

Building 100 000 members takes a while, so the built database is kept under bench/.cache/ (git-ignored),
keyed on N and a digest of this file, the models and migrations, and the import code; a change to any of
them builds it again. Each scenario gets a copy.

    .venv/bin/python bench/seed_community.py --members 2000 --out /tmp/community.db   # on its own
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import math
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: partybot's packages from the checkout

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bot.domain.importing import ImportReport, import_members, import_org  # noqa: E402
from bot.domain.privacy import Vault  # noqa: E402
from models import Binding, Member, WeChatUser  # noqa: E402
from models.db import Database  # noqa: E402
from models.migrate import upgrade  # noqa: E402

CACHE_DIR = ROOT / "bench" / ".cache"
# What the built database depends on: a change to any of these builds it again.
DEPENDS_ON = ("bench/seed_community.py", "models", "bot/domain/importing", "bot/domain/places.py")
# The benchmark's own data key (PARTYBOT_DATA_KEY of the servers it starts): phones are stored encrypted.
DATA_KEY = "cGFydHlib3QtYmVuY2gtZGF0YS1rZXktMzJieXRlcyE="
SEED = 20261121
OPENID_LENGTH = 28  # as WeChat's
STRANGER_SHARE = 0.10  # of the followers: residents who follow the account but are not bound
GROUP_SIZE = 50  # members per building group
GROUPS_PER_BRANCH = 8
BRANCHES_PER_COMMUNITY = 10
CHUNK = 5_000  # rows per executemany

STREET = "青禾街道党工委"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
GIVEN = "建国志强秀兰丽娟文博国平晓梅洋军华明红英芳伟敏静磊勇艳杰娜涛超霞平刚桂兰玉珍淑琴德海春"
# (kind, share, birth years)
KINDS = (
    ("在职", 0.45, (1966, 2000)),
    ("离退休", 0.35, (1938, 1965)),
    ("流动", 0.05, (1975, 2000)),
    ("两新", 0.05, (1975, 2000)),
    ("学生", 0.03, (2001, 2006)),
    ("无业", 0.04, (1960, 1995)),
    ("农民", 0.03, (1950, 1990)),
)
VOLUNTEER_POSTS = ("政策宣传岗", "矛盾调解岗", "民意调查岗", "义务巡逻岗", "环境卫生岗", "文明劝导岗")
SPECIALTIES = ("", "", "", "财务", "法律", "组织协调", "医疗", "教育", "电工", "书法")
DESTINATIONS = ("广东省深圳市南山区", "浙江省杭州市西湖区", "江苏省苏州市工业园区", "上海市浦东新区")

# As content/demo/roster.csv.
ROSTER_HEADER = [
    "编号", "姓名", "性别", "出生年月", "手机", "状态", "入党日期", "人员类型", "职务", "所在组织", "楼栋",
    "门牌", "特长", "岗位", "语音模式", "帮扶人编号", "党费基数", "流动去向",
]  # fmt: skip


class SeedError(Exception):
    """The community could not be built (an import reported errors, ...)."""


def member_openid(index: int) -> str:
    return _openid("m", index)


def stranger_openid(index: int) -> str:
    return _openid("s", index)


def _openid(kind: str, index: int) -> str:
    prefix = f"obench{kind}"
    return prefix + str(index).zfill(OPENID_LENGTH - len(prefix))


def stranger_count(members: int) -> int:
    """Residents following but not bound, so that they are STRANGER_SHARE of all followers."""
    return max(1, math.ceil(members * STRANGER_SHARE / (1 - STRANGER_SHARE)))


# --- the CSV files ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shape:
    groups: int
    branches: int
    communities: int

    @classmethod
    def of(cls, members: int) -> Shape:
        groups = max(1, math.ceil(members / GROUP_SIZE))
        branches = math.ceil(groups / GROUPS_PER_BRANCH)
        return cls(groups, branches, math.ceil(branches / BRANCHES_PER_COMMUNITY))


def community_path(c: int) -> str:
    return f"{STREET}/第{c + 1}社区党委"


def branch_path(b: int) -> str:
    return f"{community_path(b // BRANCHES_PER_COMMUNITY)}/第{b % BRANCHES_PER_COMMUNITY + 1}网格党支部"


def building_name(g: int) -> str:
    """Globally unique (Building.name is): the community's number, then the building's within it."""
    b = g // GROUPS_PER_BRANCH
    c = b // BRANCHES_PER_COMMUNITY
    return f"{c + 1}区{g - c * BRANCHES_PER_COMMUNITY * GROUPS_PER_BRANCH + 1}号楼"


def group_path(g: int) -> str:
    return f"{branch_path(g // GROUPS_PER_BRANCH)}/{building_name(g)}党小组"


def write_org_csv(path: Path, shape: Shape) -> int:
    rows: list[list[str]] = [["组织路径", "类型", "主题党日", "覆盖楼栋"], [STREET, "街道党工委", "", ""]]
    for c in range(shape.communities):
        rows.append([community_path(c), "社区党委", "每月25日", ""])
    for b in range(shape.branches):
        groups = range(b * GROUPS_PER_BRANCH, min((b + 1) * GROUPS_PER_BRANCH, shape.groups))
        buildings = ";".join(building_name(g) for g in groups)
        rows.append([branch_path(b), "网格党支部", "每月第一个星期五", buildings])
    for g in range(shape.groups):
        rows.append([group_path(g), "楼栋党小组", "", building_name(g)])
    _write_csv(path, rows)
    return len(rows) - 1


def write_roster_csv(path: Path, members: int, rng: random.Random) -> None:
    rows: list[list[str]] = [ROSTER_HEADER]
    kinds = [k for k, _, _ in KINDS]
    weights = [w for _, w, _ in KINDS]
    years = {k: span for k, _, span in KINDS}
    leader = ""
    for i in range(members):
        g, place = divmod(i, GROUP_SIZE)
        b = g // GROUPS_PER_BRANCH
        number = f"M{i + 1:06d}"
        unit, post = group_path(g), ""
        if place == 0:
            post, leader = "组长", number
        elif g % GROUPS_PER_BRANCH == 0 and place <= 4:
            unit, post = branch_path(b), ("书记", "副书记", "委员", "委员")[place - 1]
        elif g % (GROUPS_PER_BRANCH * BRANCHES_PER_COMMUNITY) == 0 and place <= 6:
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


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(rows)


# --- building the database ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Built:
    path: Path  # the seeded database: copy it, never serve from it
    members: int
    strangers: int
    cached: bool  # taken from the cache (no build)
    seconds: float  # building it (or 0 when cached)
    steps: str  # how long each step took, for the report


def source_digest() -> str:
    digest = hashlib.sha256()
    for name in DEPENDS_ON:
        base = ROOT / name
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            if "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def community(members: int, cache_dir: Path = CACHE_DIR, *, log: bool = True) -> Built:
    """The seeded database for `members` members: from cache_dir when it is there and current, else built
    there (replacing the databases of older sources)."""
    key = f"community-{members}-{source_digest()}.db"
    strangers = stranger_count(members)
    target = cache_dir / key
    if target.exists():
        return Built(target, members, strangers, True, 0.0, "from the cache")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    started = time.perf_counter()
    steps = asyncio.run(_build(partial, members, log=log))
    _settle(partial)
    os.replace(partial, target)
    for old in cache_dir.glob(f"community-{members}-*"):
        if old != target:
            old.unlink()
    return Built(target, members, strangers, False, time.perf_counter() - started, steps)


async def _build(path: Path, members: int, *, log: bool) -> str:
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
        units = write_org_csv(org_csv, Shape.of(members))
        write_roster_csv(roster_csv, members, rng)
        step(f"{units:,} units and {members:,} members written as CSV")
        await upgrade(url)
        step("migrated")
        db = Database(url)
        try:
            _check(await import_org(db, org_csv, now=now), units)
            step("org import")
            _check(await import_members(db, Vault(DATA_KEY), roster_csv, now=now), members)
            step("roster import")
            await db.run(lambda session: _bind_all(session, members, now))
            step(f"{members:,} bindings and {members + stranger_count(members):,} followers inserted")
        finally:
            await db.dispose()
    return ", ".join(timings)


def _check(report: ImportReport, expected: int) -> None:
    if report.errors or not report.written or len(report.added) != expected:
        shown = "; ".join(str(issue) for issue in report.errors[:5])
        raise SeedError(
            f"the {report.kind} import wrote {len(report.added)} of {expected} rows "
            f"({len(report.errors)} errors: {shown})"
        )


def _bind_all(session: Session, members: int, now: datetime) -> None:
    """Member M000001 ↔ member_openid(0), ...: bound and following; the strangers only following."""
    ids = {number: member_id for number, member_id in session.execute(select(Member.number, Member.id))}
    bindings = [
        {"openid": member_openid(i), "member_id": ids[f"M{i + 1:06d}"], "method": "demo", "bound_at": now}
        for i in range(members)
    ]
    followed = now - timedelta(days=30)
    followers = [member_openid(i) for i in range(members)]
    followers += [stranger_openid(i) for i in range(stranger_count(members))]
    users = [
        {"openid": o, "subscribed": True, "first_seen_at": followed, "last_seen_at": followed,
         "subscribed_at": followed, "window_left": 0}
        for o in followers
    ]  # fmt: skip
    for table, rows in ((Binding, bindings), (WeChatUser, users)):
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(table), rows[start : start + CHUNK])


def _settle(path: Path) -> None:
    """Fold the WAL into the file, so one file is the whole database and copies of it are complete."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def copy_to(built: Built, target: Path) -> None:
    shutil.copyfile(built.path, target)


# --- who is in it (for checking answers) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """A bound member as the database holds them: what a correct answer to them shows."""

    openid: str
    name: str
    post: str | None
    kind: str
    unit_path: str
    phone_enc: str | None


def people(built: Built) -> dict[str, Person]:
    """Every bound member by openid, read from the seeded database."""
    with contextlib.closing(sqlite3.connect(f"file:{built.path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT b.openid, m.name, m.post, m.kind, u.path, m.phone_enc FROM bindings b "
            "JOIN members m ON m.id = b.member_id JOIN org_units u ON u.id = m.unit_id"
        ).fetchall()
    return {row[0]: Person(*row) for row in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--out", type=Path, required=True, help="where to write a copy of the database")
    parser.add_argument(
        "--no-cache", action="store_true", help="build it, neither using nor filling the cache"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="partybot-seed-") as tmp:
        built = community(args.members, Path(tmp) if args.no_cache else CACHE_DIR)
        copy_to(built, args.out)
    print(f"{args.out}: {built.members:,} members, {built.strangers:,} strangers ({built.steps})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
