"""The members of a scope as staff read them (the console's members page): searched by name, paged, phones
masked on the server, and one member opened. Opening one is an audited read of personal data (PIPL); the
caller passes the scope from bot.domain.policy (Action.LIST_MEMBERS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain import audit
from bot.domain.binding import in_scope
from bot.domain.policy import within
from bot.domain.privacy import Vault, mask_phone
from models import Binding, Member, OrgUnit

PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class Row:
    number: str
    name: str
    post: str | None
    unit_name: str
    unit_path: str
    kind: str
    phone: str  # masked, "" when none is registered
    bound: bool


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int


def _phone(vault: Vault | None, token: str | None) -> str:
    return mask_phone(vault.decrypt_phone(token) if vault else None)


def search(session: Session, scope_path: str, vault: Vault | None, query: str = "", page: int = 1) -> Page:
    """Active members of the subtree ("" is every unit) whose name contains `query`, by unit and number."""
    where = [Member.active.is_(True), in_scope(scope_path)]
    query = query.strip()[:50]
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(Member.name.like(f"%{escaped}%", escape="\\"))
    total = int(
        session.scalar(
            select(func.count()).select_from(Member).join(OrgUnit, OrgUnit.id == Member.unit_id).where(*where)
        )
        or 0
    )
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    page = min(max(1, page), pages)
    bound = select(Binding.openid).where(Binding.member_id == Member.id).exists()
    found = session.execute(
        select(Member, OrgUnit.name, OrgUnit.path, bound)
        .join(OrgUnit, OrgUnit.id == Member.unit_id)
        .where(*where)
        .order_by(OrgUnit.path, Member.number)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    rows = [
        Row(
            m.number, m.name, m.post, str(unit), str(path), m.kind, _phone(vault, m.phone_enc), bool(is_bound)
        )
        for m, unit, path, is_bound in found
    ]
    return Page(rows, total, page, pages)


@dataclass(frozen=True, slots=True)
class Card:
    number: str
    name: str
    gender: str | None
    birth_year: int | None
    status: str
    kind: str
    post: str | None
    unit_name: str
    unit_path: str
    phone: str  # masked
    building: str | None
    door: str | None
    volunteer_posts: list[str]
    mobile_destination: str | None
    bound: bool


def open_member(
    session: Session,
    scope_path: str,
    number: str,
    vault: Vault | None,
    *,
    actor: str,
    now: datetime,
    via: str = "console",
) -> Card | None:
    """One member of the subtree by number, recorded in the audit log; None (and nothing recorded) when
    there is no such active member inside the scope."""
    found = session.execute(
        select(Member, OrgUnit.name, OrgUnit.path)
        .join(OrgUnit, OrgUnit.id == Member.unit_id)
        .where(Member.number == number, Member.active.is_(True))
    ).first()
    if found is None or not within(str(found[2]), scope_path):
        return None
    member, unit_name, unit_path = found
    audit.record(session, now, actor, "view_member", member.number, via=via, unit=str(unit_path))
    bound = session.scalar(select(Binding.openid).where(Binding.member_id == member.id).limit(1)) is not None
    return Card(
        number=member.number,
        name=member.name,
        gender=member.gender,
        birth_year=member.birth_year,
        status=member.status,
        kind=member.kind,
        post=member.post,
        unit_name=str(unit_name),
        unit_path=str(unit_path),
        phone=_phone(vault, member.phone_enc),
        building=member.building,
        door=member.door,
        volunteer_posts=list(member.volunteer_posts or []),
        mobile_destination=member.mobile_destination,
        bound=bound,
    )
