"""Buildings and doors come from the imports; a building routes to the grid that covers it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.clock import FixedClock
from bot.domain.importing import import_members, import_org
from bot.domain.privacy import Vault
from models import Building, Door, DualReport, OrgUnit
from tests.conftest import DATA_KEY
from tests.helpers import services
from tests.wechat import WeChatUser

DATA = Path(__file__).parent / "data"


async def test_buildings_route_to_the_deepest_covering_unit_and_doors_come_from_the_roster(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    db = services(client).db
    assert (await import_org(db, DATA / "org-sample.csv", now=clock.now())).written
    assert (await import_members(db, Vault(DATA_KEY), DATA / "roster-sample.csv", now=clock.now())).written
    async with db.read() as session:
        rows = await session.execute(
            select(Building.name, OrgUnit.name).join(OrgUnit, Building.unit_id == OrgUnit.id)
        )
        routes = {building: unit for building, unit in rows.all()}
        doors = (
            await session.scalars(select(Door.name).join(Building).where(Building.name == "1号楼"))
        ).all()
    assert (
        routes["1号楼"] == "1号楼党小组"
        and routes["6号楼"] == "周家中心户"
        and routes["7号楼"] == "6-7号楼党小组"
    )
    assert {"1单元201", "2单元101", "1单元202"} <= set(doors)
    # Importing again changes nothing.
    await import_org(db, DATA / "org-sample.csv", now=clock.now())
    async with db.read() as session:
        assert len((await session.scalars(select(Building))).all()) == len(routes)

    # A 双报到 registration from 5号楼 lands in the grid covering it.
    user = WeChatUser(client, clock, "o-five")
    for text in ("报到", "张伟", "13900138888", "某公司党支部", "5号楼", "1单元101", "1"):
        await user.send(text)
    async with db.read() as session:
        unit = await session.scalar(
            select(OrgUnit.name)
            .join(DualReport, DualReport.unit_id == OrgUnit.id)
            .where(DualReport.openid == "o-five")
        )
    assert unit == "5号楼党小组"
