"""A small community for tests: the sample tree, a few members in each role, bound as needed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.domain.privacy import Vault
from models import Admin, Binding, Member, OrgUnit, Staff
from models.db import Database
from tests.conftest import DATA_KEY, T0

STREET = "青禾街道党工委"
COMMUNITY = f"{STREET}/银杏社区党委"
BRANCH1 = f"{COMMUNITY}/第一网格党支部"
GROUP1 = f"{BRANCH1}/1号楼党小组"
BRANCH2 = f"{COMMUNITY}/第二网格党支部"

UNITS = [
    (STREET, "街道党工委"),
    (COMMUNITY, "社区党委"),
    (BRANCH1, "网格党支部"),
    (GROUP1, "楼栋党小组"),
    (BRANCH2, "网格党支部"),
]

# number, name, unit, post, phone, birth year, kind
MEMBERS = [
    ("YX-001", "周建国", COMMUNITY, "书记", "13800138001", 1958, "离退休"),
    ("YX-002", "林晓梅", BRANCH1, "书记", "13800138002", 1979, "在职"),
    ("YX-003", "陈志强", BRANCH2, "书记", "13800138003", 1985, "在职"),
    ("YX-004", "王秀兰", GROUP1, None, "13800138004", 1941, "离退休"),
    ("YX-006", "孙丽娟", GROUP1, "组长", "13800138006", 1968, "离退休"),
    ("YX-007", "李文博", BRANCH1, "委员", "13800138007", 1992, "流动"),
    ("YX-009", "郑国平", BRANCH1, None, "13800138009", 1950, "离退休"),
    ("YX-012", "王秀兰", BRANCH2, None, "13900138012", 1952, "离退休"),  # same name, other branch
    ("YX-013", "刘洋", BRANCH2, None, None, 1990, "在职"),
]


@dataclass
class Community:
    ids: dict[str, int]  # member number -> id
    units: dict[str, int]  # path -> id

    def openid(self, number: str) -> str:
        return f"o-{number}"


async def seed(
    db: Database, *, bind: tuple[str, ...] = (), admin: str | None = None, grid_worker: str | None = None
) -> Community:
    vault = Vault(DATA_KEY)
    now: datetime = T0

    def write(session: Session) -> Community:
        units: dict[str, int] = {}
        for path, kind in UNITS:
            parent = path.rsplit("/", 1)[0] if "/" in path else None
            unit = OrgUnit(
                path=path,
                name=path.rsplit("/", 1)[-1],
                kind=kind,
                parent_id=units.get(parent or ""),
                depth=path.count("/"),
                buildings=[],
                created_at=now,
                updated_at=now,
            )
            session.add(unit)
            session.flush()
            units[path] = unit.id
        ids: dict[str, int] = {}
        for number, name, unit_path, post, phone, year, kind in MEMBERS:
            member = Member(
                number=number,
                name=name,
                unit_id=units[unit_path],
                post=post,
                status="正式",
                kind=kind,
                birth_year=year,
                phone_enc=vault.encrypt_phone(phone),
                phone_tail_mac=vault.phone_tail_mac(phone),
                building="1号楼",
                door="1单元201",
                volunteer_posts=["政策宣传岗"],
                created_at=now,
                updated_at=now,
            )
            session.add(member)
            session.flush()
            ids[number] = member.id
        helped = session.get(Member, ids["YX-004"])
        assert helped is not None
        helped.helper_id = ids["YX-006"]
        for number in bind:
            session.add(Binding(openid=f"o-{number}", member_id=ids[number], method="demo", bound_at=now))
        if admin is not None:
            session.add(Admin(name="管理员", openid=admin, created_at=now))
        if grid_worker is not None:
            staff = Staff(
                number="WG-01",
                name="韩磊",
                role="网格员",
                unit_id=units[BRANCH1],
                phone_enc=vault.encrypt_phone("13900139001"),
                created_at=now,
                updated_at=now,
            )
            session.add(staff)
            session.flush()
            session.add(Binding(openid=grid_worker, staff_id=staff.id, method="demo", bound_at=now))
        return Community(ids=ids, units=units)

    return await db.run(write)


def theme_days(
    session: Session, units: dict[str, int], now: datetime, which: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, list[int]]]:
    """A planned theme day for each (month, unit path) of `which`, every member of the unit invited:
    (month, path) → (event id, the invited member ids)."""
    from sqlalchemy import select

    from models import Event, Invitation

    found: dict[tuple[str, str], tuple[int, list[int]]] = {}
    for month, path in which:
        event = Event(
            kind="theme_day",
            unit_id=units[path],
            month=month,
            starts_at=now,
            status="planned",
            created_at=now,
            updated_at=now,
        )
        session.add(event)
        session.flush()
        members = list(session.scalars(select(Member.id).where(Member.unit_id == units[path])))
        for m in members:
            session.add(Invitation(event_id=event.id, member_id=m, created_at=now))
        found[(month, path)] = (event.id, members)
    return found
