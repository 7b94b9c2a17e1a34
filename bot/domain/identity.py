"""Resolving an openid to who they are: binding → member / staff → roles and scope (bot.domain.policy).

Looked up on every message, and most messages come from someone not seen for a while, so every bound person
is held in memory: `load_all` reads them all at start in a few bulk queries, and a lookup is a dictionary
read — someone absent is a resident (not bound), with no query. Changes:

- made in this process (binding, unbinding, approvals): `invalidate(openid)`, and the next lookup reads
  that openid again;
- made by any process (a CLI import that prunes, `admin add`, another server, a worker): database triggers
  record the openids in `identity_changes` (models/identity_triggers.py), and `refresh()`, run every
  PARTYBOT_IDENTITY_POLL_S (1 s) by the app, reads the new rows and drops those openids (all of them
  when the tree changed). So a change anywhere is seen within about a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.policy import Identity, roles_for
from models import Admin, Binding, DualReport, IdentityChange, Member, OrgUnit, Staff, UnitKind
from models.db import Database

log = logging.getLogger(__name__)

MAX_DEPTH = 10  # the tree has five levels; a longer walk up means a loop in parent_id
# More changes than this at once (a roster import): read everyone again rather than one by one later.
RELOAD_OVER = 1_000


@dataclass(frozen=True, slots=True)
class Unit:
    path: str
    kind: str
    parent_id: int | None


@dataclass(slots=True)
class _Parts:
    """What one openid's identity is made of, as read in bulk."""

    # id, number, name, post, kind, unit, 流动去向
    member: tuple[int, str, str, str | None, str, int, str | None] | None = None
    staff: tuple[int, str, str] | None = None  # id, name, unit path
    admin: bool = False
    dual: tuple[int, str, int | None] | None = None  # id, name, unit


class Identities:
    def __init__(
        self, db: Database, poll_s: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._db, self._poll_s, self._monotonic = db, poll_s, monotonic
        self._known: dict[str, Identity] = {}
        self._stale: set[str] = set()  # to read again at their next lookup
        self._units: dict[int, Unit] = {}
        self._complete = False  # every bound person is in _known: an absent openid is a resident
        self._last_change = 0
        self._checked_at = float("-inf")
        self._refreshing: asyncio.Future[int] | None = None

    # --- the read path -------------------------------------------------------------------------------

    async def lookup(self, openid: str) -> Identity:
        if self._complete and self._monotonic() - self._checked_at >= self._poll_s:
            try:
                await self.refresh()
            except Exception:  # the database is away for a moment: answer from what is known
                log.exception("following identity changes failed; will retry")
        if openid not in self._stale:
            known = self._known.get(openid)
            if known is not None:
                return known
            if self._complete:
                return Identity(openid=openid)
        identity = await self._load_one(openid)
        self._stale.discard(openid)
        if identity.roles == Identity(openid=openid).roles and identity.name is None:
            self._known.pop(openid, None)
        else:
            self._known[openid] = identity
        return identity

    def invalidate(self, openid: str) -> None:
        """This process changed who `openid` is: read it again at its next lookup."""
        self._stale.add(openid)

    # --- loading and following changes ---------------------------------------------------------------

    async def load_all(self) -> int:
        """Read every bound person (at start, and when the tree changed). Returns how many."""
        stale_before = set(self._stale)
        self._checked_at = self._monotonic()
        async with self._db.read() as session:
            # Changes committed after this point have higher ids: the next refresh sees them.
            last = await session.scalar(select(func.max(IdentityChange.id)))
            units = await _units(session)
            parts = await _parts(session, None)
        self._units = units
        self._known = {openid: self._build(openid, p) for openid, p in parts.items()}
        self._stale -= stale_before  # invalidated while loading: still read again
        self._last_change = max(self._last_change, int(last or 0))
        self._complete = True
        return len(self._known)

    async def refresh(self) -> int:
        """Follow the changes any process made since the last call (one query on the primary key), at most
        once at a time: concurrent callers wait for the same one. Returns how many changes were seen."""
        if self._refreshing is not None:
            return await asyncio.shield(self._refreshing)
        self._refreshing = asyncio.get_running_loop().create_future()
        try:
            seen = await self._refresh()
        except BaseException as exc:
            self._refreshing.set_exception(exc)
            self._refreshing.exception()  # retrieved: callers waiting see it, nobody else is warned
            raise
        else:
            self._refreshing.set_result(seen)
            return seen
        finally:
            self._refreshing = None

    async def _refresh(self) -> int:
        self._checked_at = self._monotonic()
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    select(IdentityChange.id, IdentityChange.openid)
                    .where(IdentityChange.id > self._last_change)
                    .order_by(IdentityChange.id)
                )
            ).all()
        if not rows:
            return 0
        self._last_change = int(rows[-1][0])
        if len(rows) > RELOAD_OVER or any(openid is None for _, openid in rows):
            await self.load_all()
        else:
            self._stale.update(str(openid) for _, openid in rows)
        return len(rows)

    async def _load_one(self, openid: str) -> Identity:
        async with self._db.read() as session:
            parts = (await _parts(session, openid)).get(openid, _Parts())
            needed = {u for u in (parts.member and parts.member[5], parts.dual and parts.dual[2]) if u}
            if not needed <= self._units.keys():
                self._units = await _units(session)
        return self._build(openid, parts)

    def _build(self, openid: str, parts: _Parts) -> Identity:
        member, staff, dual = parts.member, parts.staff, parts.dual
        unit_id = member[5] if member else (dual[2] if dual else None)
        unit = self._units.get(unit_id) if unit_id is not None else None
        roles = roles_for(
            member_post=member[3] if member else None,
            is_member=member is not None or dual is not None,
            is_staff=staff is not None,
            is_admin=parts.admin,
        )
        return Identity(
            openid=openid,
            roles=roles,
            member_id=member[0] if member else None,
            member_number=member[1] if member else None,
            name=member[2] if member else (dual[1] if dual else (staff[1] if staff else None)),
            unit_path=unit.path if unit else None,
            branch_path=branch_of(self._units, unit_id),
            staff_id=staff[0] if staff else None,
            staff_unit_path=staff[2] if staff else None,
            dual_report_id=dual[0] if dual else None,
            traits=member_traits(member[4] if member else None, member[6] if member else None),
        )


async def _units(session: AsyncSession) -> dict[int, Unit]:
    rows = await session.execute(select(OrgUnit.id, OrgUnit.path, OrgUnit.kind, OrgUnit.parent_id))
    return {int(i): Unit(str(path), str(kind), parent) for i, path, kind, parent in rows.all()}


async def _parts(session: AsyncSession, openid: str | None) -> dict[str, _Parts]:
    """Everything identities are made of, for one openid or for all, in four queries."""
    found: dict[str, _Parts] = {}

    def part(key: str | None) -> _Parts:
        return found.setdefault(str(key), _Parts())

    members = (
        select(
            Binding.openid,
            Member.id,
            Member.number,
            Member.name,
            Member.post,
            Member.kind,
            Member.unit_id,
            Member.mobile_destination,
        )
        .join(Member, Member.id == Binding.member_id)
        .where(Member.active.is_(True))
    )
    staff = (
        select(Binding.openid, Staff.id, Staff.name, OrgUnit.path)
        .join(Staff, Staff.id == Binding.staff_id)
        .join(OrgUnit, OrgUnit.id == Staff.unit_id)
        .where(Staff.active.is_(True))
    )
    admins = select(Admin.openid).where(Admin.openid.is_not(None))
    duals = select(DualReport.openid, DualReport.id, DualReport.name, DualReport.unit_id).where(
        DualReport.status == "confirmed"
    )
    if openid is not None:
        members, staff = members.where(Binding.openid == openid), staff.where(Binding.openid == openid)
        admins, duals = admins.where(Admin.openid == openid), duals.where(DualReport.openid == openid)
    for key, member_id, number, name, post, kind, unit_id, away in (await session.execute(members)).all():
        part(key).member = (member_id, number, name, post, kind, unit_id, away)
    for key, staff_id, staff_name, path in (await session.execute(staff)).all():
        part(key).staff = (staff_id, staff_name, path)
    for (admin_openid,) in (await session.execute(admins)).all():
        part(admin_openid).admin = True
    for key, report_id, report_name, report_unit in (await session.execute(duals)).all():
        entry = part(key)
        if entry.member is None:
            # 双报到: an in-service member confirmed by the community counts as a member here.
            entry.dual = (report_id, report_name, report_unit)
    return found


def branch_of(units: Mapping[int, Unit], unit_id: int | None) -> str | None:
    """The path of the nearest 网格党支部 at or above the unit, walking up `parent_id`; the unit's own path
    when there is none (a 社区党委's members, a tree without branches)."""
    start = units.get(unit_id) if unit_id is not None else None
    here = start
    for _ in range(MAX_DEPTH):
        if here is None:
            break
        if here.kind == UnitKind.BRANCH.value:
            return here.path
        here = units.get(here.parent_id) if here.parent_id is not None else None
    return start.path if start is not None else None


def member_traits(kind: str | None, mobile_destination: str | None = None) -> frozenset[str]:
    """Facts about a member that decide which menu items apply to them (content/menus.yaml `only:`): mobile
    (流动党员: the roster's 人员类型 流动, or a 流动去向 from the roster or `流动登记`)."""
    return frozenset({"mobile"}) if kind == "流动" or mobile_destination else frozenset()
