"""Resolving an openid to who they are: binding → member / staff → roles and scope (bot.domain.policy).

Looked up on every message, so cached in memory: changes made in this process (binding, unbinding,
preferences) invalidate the entry at once; changes made by other processes (a CLI import that prunes,
`admin add`, another server) are seen within `ttl_s`.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from bot.domain.policy import Identity, roles_for
from models import Admin, Binding, DualReport, Member, OrgUnit, Staff
from models.db import Database


class Identities:
    def __init__(self, db: Database, ttl_s: float = 30.0, max_entries: int = 200_000) -> None:
        self._db, self._ttl, self._max = db, ttl_s, max_entries
        self._cache: dict[str, tuple[float, Identity]] = {}

    async def lookup(self, openid: str) -> Identity:
        now = time.monotonic()
        hit = self._cache.get(openid)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        identity = await self._load(openid)
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[openid] = (now, identity)
        return identity

    def invalidate(self, openid: str) -> None:
        self._cache.pop(openid, None)

    async def _load(self, openid: str) -> Identity:
        async with self._db.read() as session:
            binding = await session.get(Binding, openid)
            is_admin = (await session.scalar(select(Admin.id).where(Admin.openid == openid))) is not None
            member = staff = None
            member_path = staff_path = None
            if binding is not None and binding.member_id is not None:
                row = (
                    await session.execute(
                        select(Member, OrgUnit.path)
                        .join(OrgUnit, Member.unit_id == OrgUnit.id)
                        .where(Member.id == binding.member_id, Member.active.is_(True))
                    )
                ).first()
                if row is not None:
                    member, member_path = row[0], row[1]
            if binding is not None and binding.staff_id is not None:
                staff_row = (
                    await session.execute(
                        select(Staff, OrgUnit.path)
                        .join(OrgUnit, Staff.unit_id == OrgUnit.id)
                        .where(Staff.id == binding.staff_id, Staff.active.is_(True))
                    )
                ).first()
                if staff_row is not None:
                    staff, staff_path = staff_row[0], staff_row[1]
            dual = None
            if member is None:
                # 双报到: an in-service member confirmed by the community counts as a member here.
                dual_row = (
                    await session.execute(
                        select(DualReport, OrgUnit.path)
                        .outerjoin(OrgUnit, DualReport.unit_id == OrgUnit.id)
                        .where(DualReport.openid == openid, DualReport.status == "confirmed")
                    )
                ).first()
                if dual_row is not None:
                    dual, member_path = dual_row[0], dual_row[1]
        roles = roles_for(
            member_post=member.post if member else None,
            is_member=member is not None or dual is not None,
            is_staff=staff is not None,
            is_admin=is_admin,
        )
        return Identity(
            openid=openid,
            roles=roles,
            member_id=member.id if member else None,
            member_number=member.number if member else None,
            name=member.name if member else (dual.name if dual else (staff.name if staff else None)),
            unit_path=member_path,
            staff_id=staff.id if staff else None,
            staff_unit_path=staff_path,
            dual_report_id=dual.id if dual else None,
            traits=member_traits(member),
        )


def member_traits(member: Member | None) -> frozenset[str]:
    """Facts about a member that decide which menu items apply to them (content/menus.yaml `only:`)."""
    if member is None:
        return frozenset()
    return frozenset({"mobile"}) if member.kind == "流动" else frozenset()
