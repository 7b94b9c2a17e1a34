"""The test community with places and handlers for 居民诉求: the first grid covers 1–3号楼, the second 5号楼,
9号楼 is covered by nobody; a grid worker (o-grid) bound in the first grid, members bound, 郑国平 (first
grid) holding 矛盾调解岗; and the words of the notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.content import load_content
from bot.domain.places import sync_places
from bot.domain.privacy import Vault
from bot.domain.requests import Classified, Place, Reporter, RequestRules, file_ticket, find_place
from models import Binding, Building, Member, OrgUnit, Staff
from models.db import Database
from tests.community import BRANCH1, BRANCH2, COMMUNITY, GROUP1, Community, seed
from tests.conftest import DATA_KEY, T0

GRID = "o-grid"
BOUND = ("YX-001", "YX-002", "YX-003", "YX-009")
_CONTENT = load_content()


def say(key: str, **values: Any) -> str:
    return _CONTENT.text(key, **values)


@dataclass
class RequestCommunity:
    community: Community
    buildings: dict[str, int]  # name -> id

    def member(self, number: str) -> int:
        return self.community.ids[number]

    def unit(self, path: str) -> int:
        return self.community.units[path]


async def seed_requests(db: Database) -> RequestCommunity:
    community = await seed(db, bind=BOUND, grid_worker=GRID)

    def places(session: Session) -> dict[str, int]:
        covers = {BRANCH1: ["1号楼", "2号楼", "3号楼"], GROUP1: ["1号楼"], BRANCH2: ["5号楼"], COMMUNITY: []}
        for path, names in covers.items():
            unit = session.get(OrgUnit, community.units[path])
            assert unit is not None
            unit.buildings = names
        session.add(Building(name="9号楼"))
        member = session.get(Member, community.ids["YX-009"])
        assert member is not None
        member.volunteer_posts = ["矛盾调解岗"]
        sync_places(session)
        return {str(b.name): int(b.id) for b in session.scalars(select(Building))}

    return RequestCommunity(community, await db.run(places))


def reporter(n: int) -> Reporter:
    return Reporter(openid=f"o-resident-{n}", name=f"居民{n}")


async def file(
    db: Database,
    now: datetime,
    who: Reporter,
    text: str,
    category: str = "物业维修",
    urgent: bool = False,
    rules: RequestRules | None = None,
    phone_enc: str | None = None,
) -> Any:
    def run(session: Session) -> Any:
        place: Place = find_place(session, text)
        return file_ticket(
            session, now, rules or RequestRules(), say, who, text, Classified(category, urgent), place,
            phone_enc=phone_enc,
        )  # fmt: skip

    return await db.run(run)


@dataclass(frozen=True)
class Sent:
    key: str
    text: str
    openids: frozenset[str]
    member_ids: frozenset[int]


async def sent(db: Database, prefix: str = "request:") -> list[Sent]:
    """The system notices whose key starts with `prefix`, oldest first, with their outbox recipients."""
    from models import Notice, OutboxRow

    async with db.read() as session:
        notices = (
            await session.execute(
                select(Notice.id, Notice.author, Notice.text)
                .where(Notice.kind == "system", Notice.author.startswith(prefix))
                .order_by(Notice.id)
            )
        ).all()
        rows = (
            await session.execute(
                select(OutboxRow.notice_id, OutboxRow.openid, OutboxRow.member_id).where(
                    OutboxRow.notice_id.in_([n[0] for n in notices])
                )
            )
        ).all()
    return [
        Sent(
            str(key),
            str(text),
            frozenset(str(o) for nid, o, _ in rows if nid == notice_id and o),
            frozenset(int(m) for nid, _, m in rows if nid == notice_id and m),
        )
        for notice_id, key, text in notices
    ]


GRID2 = "o-grid-2"  # 赵敏, 第二网格 (5–6号楼)


def two_grids(session: Session) -> None:
    """After `seed`: the first grid covers 1–3号楼, the second 5–6号楼 with its own grid worker 赵敏
    (o-grid-2, WG-02): the chat's and the console's requests tests."""
    units = {u.path: u for u in session.scalars(select(OrgUnit)).all()}
    units[BRANCH1].buildings = ["1号楼", "2号楼", "3号楼"]
    units[BRANCH2].buildings = ["5号楼", "6号楼"]
    staff = Staff(
        number="WG-02",
        name="赵敏",
        role="网格员",
        unit_id=units[BRANCH2].id,
        phone_enc=Vault(DATA_KEY).encrypt_phone("13900139002"),
        created_at=T0,
        updated_at=T0,
    )
    session.add(staff)
    session.flush()
    session.add(Binding(openid=GRID2, staff_id=staff.id, method="demo", bound_at=T0))
    sync_places(session)
