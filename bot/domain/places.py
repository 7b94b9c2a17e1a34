"""Buildings and doors, derived from what is imported: each building belongs to the deepest active
unit whose 覆盖楼栋 lists it; doors come from the roster's 楼栋/门牌. Idempotent; runs in the import's
transaction."""

from __future__ import annotations

import re

import cn2an
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Building, Door, Member, OrgUnit


def sync_places(session: Session) -> None:
    session.flush()
    covering: dict[str, OrgUnit] = {}
    for unit in session.scalars(
        select(OrgUnit).where(OrgUnit.active.is_(True)).order_by(OrgUnit.depth)
    ).all():
        for name in unit.buildings or []:
            covering[name] = unit  # deeper units come later and win
    buildings = {b.name: b for b in session.scalars(select(Building)).all()}
    for name, unit in covering.items():
        building = buildings.get(name)
        if building is None:
            building = buildings[name] = Building(name=name, unit_id=unit.id)
            session.add(building)
        elif building.unit_id != unit.id:
            building.unit_id = unit.id
    for name, building in buildings.items():
        if name not in covering and building.unit_id is not None:
            building.unit_id = None  # no longer covered: kept (doors refer to it) but unrouted
    session.flush()
    known = {(d.building_id, d.name) for d in session.scalars(select(Door)).all()}
    for building_name, door in session.execute(
        select(Member.building, Member.door).where(Member.building.is_not(None), Member.door.is_not(None))
    ).all():
        if not building_name or not door:
            continue
        building = buildings.get(building_name)
        if building is None:
            building = buildings[building_name] = Building(name=building_name)
            session.add(building)
            session.flush()
        if (building.id, door) not in known:
            session.add(Door(building_id=building.id, name=door))
            known.add((building.id, door))


def unit_for_building(session: Session, name: str) -> int | None:
    return session.scalar(select(Building.unit_id).where(Building.name == name))


_NUMBER = re.compile(r"\d+|[零〇一二两三四五六七八九十百千]+")


def natural_key(name: str) -> tuple[str | int, ...]:
    """Sort key that reads the numbers in a name, digits or Chinese (第二网格 before 第十网格, 2号楼 before
    10号楼): text and numbers alternate, so keys compare part by part."""
    parts: list[str | int] = []
    at = 0
    for found in _NUMBER.finditer(name):
        raw = found.group()
        try:
            value = int(raw) if raw.isdigit() else int(cn2an.cn2an(raw.replace("两", "二"), "normal"))
        except ValueError:
            continue  # not a number after all (a lone 千): left in the text
        parts += [name[at : found.start()], value]
        at = found.end()
    parts.append(name[at:])
    return tuple(parts)


def path_key(path: str) -> tuple[tuple[str | int, ...], ...]:
    """natural_key for a unit's path, level by level (a tree's units in the order their names count)."""
    return tuple(natural_key(level) for level in path.split("/"))
