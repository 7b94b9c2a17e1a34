"""Binding a WeChat openid to a roster entry: one-time codes, personal QR tokens, and name + phone tail
requests a secretary approves. One openid ↔ one person. Codes and tokens are stored only as HMACs.

Codes and QR tokens are for members and for grid workers (网格员, `Staff`); name requests are for members.
A person who is both a member and a grid worker has one binding with both roles: redeeming a grid worker's
code from a WeChat bound as a member (or the other way round) fills in the other half of the same
`bindings` row, when the two records carry the same name (otherwise they are two people, and one WeChat
stays one person). A code or QR token for someone already bound to another WeChat moves the binding there
(a secretary or operator issued it for that person, and was told they are bound); an approved name
request for someone already bound does not.

Abuse: every failed code and every name request counts toward 5 attempts per openid per hour (all name
requests count, matched or not, so that the limit itself tells nothing about the roster); the answer to a
name request is the same whether it matched or not.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import ColumnElement, delete, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.domain import audit
from bot.domain.privacy import Vault
from bot.outbound.notices import add_system_notice, secretaries_for
from models import (
    Binding,
    BindingAttempt,
    BindingCode,
    BindingRequest,
    Member,
    OrgUnit,
    QRBindingToken,
    Staff,
)
from models.db import Database

CODE_LIFETIME = timedelta(days=7)
QR_LIFETIME = timedelta(days=30)  # WeChat's longest temporary QR code
ATTEMPTS_PER_HOUR = 5

Secret = TypeVar("Secret", BindingCode, QRBindingToken)


class Outcome(StrEnum):
    BOUND = "bound"
    ALREADY_BOUND = "already_bound"  # this openid is bound to someone (in the role the code is for)
    TAKEN = "taken"  # the member is bound to another openid (an approval; codes and QR tokens move it)
    OTHER_PERSON = (
        "other_person"  # bound in the other role to someone of another name (one openid, one person)
    )
    INVALID = "invalid"  # wrong, used or expired code/token
    REQUESTED = "requested"  # name request recorded (or silently not: same answer)
    LIMITED = "limited"


class Who(StrEnum):
    MEMBER = "member"  # 党员 (models.Member)
    STAFF = "staff"  # 网格员 (models.Staff)


@dataclass(frozen=True, slots=True)
class Person:
    """Whom a code or a QR token binds."""

    who: Who
    id: int

    @classmethod
    def member(cls, member_id: int) -> Person:
        return cls(Who.MEMBER, member_id)

    @classmethod
    def staff(cls, staff_id: int) -> Person:
        return cls(Who.STAFF, staff_id)

    @property
    def column(self) -> str:
        """The column naming them in bindings, binding_codes and qr_binding_tokens."""
        return "member_id" if self.who is Who.MEMBER else "staff_id"

    @property
    def member_id(self) -> int | None:
        return self.id if self.who is Who.MEMBER else None

    @property
    def staff_id(self) -> int | None:
        return self.id if self.who is Who.STAFF else None

    def load(self, session: Session) -> Member | Staff | None:
        """Their roster (or staff list) entry."""
        if self.who is Who.MEMBER:
            return session.get(Member, self.id)
        return session.get(Staff, self.id)


@dataclass(frozen=True, slots=True)
class Issued:
    secret: str  # the code or the QR token
    was_bound: bool  # the person is bound to a WeChat already: redeeming it moves the binding


@dataclass(frozen=True, slots=True)
class Bound:
    outcome: Outcome
    member_id: int | None = None
    openid: str | None = None  # whose binding changed (for an approval: the applicant)
    staff_id: int | None = None  # set instead of member_id when the code was a grid worker's
    moved_from: str | None = None  # the WeChat the person was bound to before (now without them)


class Binder:
    def __init__(self, db: Database, vault: Vault) -> None:
        self._db, self._vault = db, vault

    # --- issuing ------------------------------------------------------------------------------------

    async def issue_code(self, person: Person, actor: str, now: datetime) -> Issued:
        """A fresh 6-digit code for the person (earlier unused codes stay valid until they expire)."""

        def issue(session: Session) -> Issued:
            while True:
                code = f"{secrets.randbelow(1_000_000):06d}"
                mac = self._vault.mac("code", code)
                if session.scalar(select(BindingCode.id).where(BindingCode.code_mac == mac)) is None:
                    break
            session.add(
                BindingCode(
                    code_mac=mac,
                    expires_at=now + CODE_LIFETIME,
                    created_by=actor,
                    created_at=now,
                    member_id=person.member_id,
                    staff_id=person.staff_id,
                )
            )
            return Issued(code, self._audit_issue(session, person, actor, "issue_bind_code", now))

        return await self._db.run(issue)

    async def issue_qr_token(self, person: Person, actor: str, now: datetime) -> Issued:
        """An opaque single-use token for a personal parametric QR code's scene."""
        token = secrets.token_urlsafe(18)

        def issue(session: Session) -> Issued:
            session.add(
                QRBindingToken(
                    token_mac=self._vault.mac("qr", token),
                    expires_at=now + QR_LIFETIME,
                    created_by=actor,
                    created_at=now,
                    member_id=person.member_id,
                    staff_id=person.staff_id,
                )
            )
            return Issued(token, self._audit_issue(session, person, actor, "issue_bind_qr", now))

        return await self._db.run(issue)

    @staticmethod
    def _audit_issue(session: Session, person: Person, actor: str, action: str, now: datetime) -> bool:
        """Record who issued a code or QR token for whom; returns whether the person is bound already."""
        bound = holder_of(session, person) is not None
        row = person.load(session)
        detail: dict[str, object] = {"person": person.who.value}
        if bound:
            detail["moves_binding"] = True
        audit.record(session, now, actor, action, row.number if row else None, **detail)
        return bound

    # --- redeeming ----------------------------------------------------------------------------------

    async def redeem_code(self, openid: str, code: str, now: datetime) -> Bound:
        return await self._redeem(
            openid, BindingCode, BindingCode.code_mac, self._vault.mac("code", code), "code", now
        )

    async def redeem_qr(self, openid: str, token: str, now: datetime) -> Bound:
        mac = self._vault.mac("qr", token)
        return await self._redeem(openid, QRBindingToken, QRBindingToken.token_mac, mac, "qr", now)

    async def _redeem(
        self,
        openid: str,
        kind: type[Secret],
        column: InstrumentedAttribute[str],
        mac: str,
        method: str,
        now: datetime,
    ) -> Bound:
        """A single-use secret (a code or a QR token): unused, unexpired, and within the attempt limit."""

        def redeem(session: Session) -> Bound:
            if self._limited(session, openid, now):
                return Bound(Outcome.LIMITED)
            row = session.scalar(
                select(kind).where(column == mac, kind.used_at.is_(None), kind.expires_at > now)
            )
            if row is None:
                session.add(BindingAttempt(openid=openid, at=now))
                return Bound(Outcome.INVALID)
            if row.member_id is not None:
                person = Person.member(row.member_id)
            elif row.staff_id is not None:
                person = Person.staff(row.staff_id)
            else:
                return Bound(Outcome.INVALID)
            return self._bind(session, openid, person, method, now, used=row, move=True)

        return await self._db.run(redeem)

    async def request_by_name(
        self, openid: str, name: str, tail: str, now: datetime, notify: str | None = None
    ) -> Bound:
        """`绑定 姓名 手机后四位`: a pending request if exactly one active member matches; the caller
        answers the same either way. `notify`: the text the member's secretaries get about a new request."""
        tail_mac = self._vault.mac("tail", tail)

        def request(session: Session) -> Bound:
            if self._limited(session, openid, now):
                return Bound(Outcome.LIMITED)
            if session.get(Binding, openid) is not None:
                return Bound(Outcome.ALREADY_BOUND)
            session.add(BindingAttempt(openid=openid, at=now))
            matches = session.scalars(
                select(Member.id).where(
                    Member.name == name, Member.phone_tail_mac == tail_mac, Member.active.is_(True)
                )
            ).all()
            if len(matches) == 1:
                pending = session.scalar(
                    select(BindingRequest.id).where(
                        BindingRequest.openid == openid,
                        BindingRequest.member_id == matches[0],
                        BindingRequest.status == "pending",
                    )
                )
                if pending is None:
                    req = BindingRequest(openid=openid, member_id=matches[0], created_at=now)
                    session.add(req)
                    session.flush()
                    if notify is not None:
                        add_system_notice(
                            session,
                            now,
                            key=f"binding_request:{req.id}",
                            text=notify,
                            member_ids=secretaries_for(session, matches[0]),
                        )
            return Bound(Outcome.REQUESTED)

        return await self._db.run(request)

    async def decide(self, request_id: int, approve: bool, actor: str, now: datetime) -> Bound:
        def decide(session: Session) -> Bound:
            req = session.get(BindingRequest, request_id)
            if req is None or req.status != "pending":
                return Bound(Outcome.INVALID)
            req.status, req.decided_by, req.decided_at = ("approved" if approve else "rejected"), actor, now
            member = session.get(Member, req.member_id)
            audit.record(
                session,
                now,
                actor,
                "approve_binding" if approve else "reject_binding",
                member.number if member else None,
            )
            if not approve:
                return Bound(Outcome.INVALID, req.member_id)
            if session.get(Binding, req.openid) is not None:
                return Bound(Outcome.ALREADY_BOUND, req.member_id)
            return self._bind(session, req.openid, Person.member(req.member_id), "approval", now)

        return await self._db.run(decide)

    async def unbind(self, openid: str) -> None:
        """Unfollow: the binding and the openid's pending requests and attempts go; the roster stays."""

        def unbind(session: Session) -> None:
            session.execute(delete(Binding).where(Binding.openid == openid))
            session.execute(
                delete(BindingRequest).where(
                    BindingRequest.openid == openid, BindingRequest.status == "pending"
                )
            )
            session.execute(delete(BindingAttempt).where(BindingAttempt.openid == openid))

        await self._db.run(unbind)

    # --- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def _limited(session: Session, openid: str, now: datetime) -> bool:
        recent = session.scalar(
            select(func.count())
            .select_from(BindingAttempt)
            .where(BindingAttempt.openid == openid, BindingAttempt.at > now - timedelta(hours=1))
        )
        return (recent or 0) >= ATTEMPTS_PER_HOUR

    @staticmethod
    def _bind(
        session: Session,
        openid: str,
        person: Person,
        method: str,
        now: datetime,
        used: BindingCode | QRBindingToken | None = None,
        move: bool = False,
    ) -> Bound:
        """Bind `person` to `openid`. `move`: a binding of the person to another WeChat goes (a code or QR
        token); otherwise it makes the outcome TAKEN."""
        record = person.load(session)
        if record is None or not record.active:
            return Bound(Outcome.INVALID)
        mine = session.get(Binding, openid)
        if mine is not None and getattr(mine, person.column) is not None:
            return Bound(Outcome.ALREADY_BOUND, person.member_id, staff_id=person.staff_id)
        if mine is not None and not same_person(session, mine, record):
            return Bound(Outcome.OTHER_PERSON, person.member_id, staff_id=person.staff_id)
        holder = holder_of(session, person)
        moved_from = None
        if holder is not None:
            if not move:
                return Bound(Outcome.TAKEN, person.member_id, staff_id=person.staff_id)
            moved_from = holder.openid
            setattr(holder, person.column, None)
            if holder.member_id is None and holder.staff_id is None:
                session.delete(holder)
            session.flush()  # the unique person columns: the old row lets go before the new one holds
        if used is not None:
            used.used_at = now
        if mine is None:
            session.add(
                Binding(
                    openid=openid,
                    member_id=person.member_id,
                    staff_id=person.staff_id,
                    method=method,
                    bound_at=now,
                )
            )
        else:
            setattr(mine, person.column, person.id)
        return Bound(Outcome.BOUND, person.member_id, openid, person.staff_id, moved_from)


def holder_of(session: Session, person: Person) -> Binding | None:
    """The binding that holds the person now, if any."""
    column = Binding.member_id if person.who is Who.MEMBER else Binding.staff_id
    return session.scalar(select(Binding).where(column == person.id))


def same_person(session: Session, binding: Binding, record: Member | Staff) -> bool:
    """Whether the person already bound to this WeChat (in the other role) is `record`: one openid stays one
    person, so a member and a grid worker share a binding only when their records carry the same name."""
    others: list[Member | Staff | None] = []
    if binding.member_id is not None:
        others.append(session.get(Member, binding.member_id))
    if binding.staff_id is not None:
        others.append(session.get(Staff, binding.staff_id))
    return all(other is not None and other.name == record.name for other in others)


async def pending_in_scope(db: Database, scope_path: str) -> list[tuple[BindingRequest, Member, str]]:
    """Pending name requests for members in a scope (unit path; "" = all), oldest first."""
    async with db.read() as session:
        query = (
            select(BindingRequest, Member, OrgUnit.path)
            .join(Member, BindingRequest.member_id == Member.id)
            .join(OrgUnit, Member.unit_id == OrgUnit.id)
            .where(BindingRequest.status == "pending")
            .order_by(BindingRequest.id)
        )
        query = query.where(in_scope(scope_path))
        return [(r[0], r[1], r[2]) for r in (await session.execute(query)).all()]


async def members_named(db: Database, name: str, scope_path: str) -> list[tuple[Member, str]]:
    """Active members with this name in a scope, with their unit paths."""
    async with db.read() as session:
        query = (
            select(Member, OrgUnit.path)
            .join(OrgUnit, Member.unit_id == OrgUnit.id)
            .where(Member.name == name, Member.active.is_(True))
            .order_by(Member.number)
        )
        query = query.where(in_scope(scope_path))
        return [(r[0], r[1]) for r in (await session.execute(query)).all()]


async def staff_named(db: Database, name: str, scope_path: str) -> list[tuple[Staff, str]]:
    """Active staff (网格员) with this name whose unit lies in a scope, with their unit names."""
    async with db.read() as session:
        query = (
            select(Staff, OrgUnit.name)
            .join(OrgUnit, Staff.unit_id == OrgUnit.id)
            .where(Staff.name == name, Staff.active.is_(True))
            .order_by(Staff.number)
        )
        query = query.where(in_scope(scope_path))
        return [(r[0], r[1]) for r in (await session.execute(query)).all()]


def in_scope(scope_path: str) -> ColumnElement[bool]:
    """The joined OrgUnit lies in a scope: the SQL form of bot.domain.policy.within ("" is every unit)."""
    if not scope_path:
        return true()
    return or_(OrgUnit.path == scope_path, OrgUnit.path.startswith(scope_path + "/"))
