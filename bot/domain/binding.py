"""Binding a WeChat openid to a roster entry: one-time codes, personal QR tokens, and name + phone tail
requests a secretary approves. One openid ↔ one person. Codes and tokens are stored only as HMACs.

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

from sqlalchemy import delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.domain import audit
from bot.domain.privacy import Vault
from bot.outbound.notices import add_system_notice, secretaries_for
from models import Binding, BindingAttempt, BindingCode, BindingRequest, Member, OrgUnit, QRBindingToken
from models.db import Database

CODE_LIFETIME = timedelta(days=7)
QR_LIFETIME = timedelta(days=30)  # WeChat's longest temporary QR code
ATTEMPTS_PER_HOUR = 5

Secret = TypeVar("Secret", BindingCode, QRBindingToken)


class Outcome(StrEnum):
    BOUND = "bound"
    ALREADY_BOUND = "already_bound"  # this openid is bound to someone
    TAKEN = "taken"  # the member is bound to another openid
    INVALID = "invalid"  # wrong, used or expired code/token
    REQUESTED = "requested"  # name request recorded (or silently not: same answer)
    LIMITED = "limited"


@dataclass(frozen=True, slots=True)
class Bound:
    outcome: Outcome
    member_id: int | None = None
    openid: str | None = None  # whose binding changed (for an approval: the applicant)


class Binder:
    def __init__(self, db: Database, vault: Vault) -> None:
        self._db, self._vault = db, vault

    # --- issuing ------------------------------------------------------------------------------------

    async def issue_code(self, member_id: int, actor: str, now: datetime) -> str:
        """A fresh 6-digit code for the member (earlier unused codes stay valid until they expire)."""

        def issue(session: Session) -> str:
            while True:
                code = f"{secrets.randbelow(1_000_000):06d}"
                mac = self._vault.mac("code", code)
                if session.scalar(select(BindingCode.id).where(BindingCode.code_mac == mac)) is None:
                    break
            session.add(
                BindingCode(
                    code_mac=mac,
                    member_id=member_id,
                    expires_at=now + CODE_LIFETIME,
                    created_by=actor,
                    created_at=now,
                )
            )
            member = session.get(Member, member_id)
            audit.record(session, now, actor, "issue_bind_code", member.number if member else None)
            return code

        return await self._db.run(issue)

    async def issue_qr_token(self, member_id: int, actor: str, now: datetime) -> str:
        """An opaque single-use token for a personal parametric QR code's scene."""
        token = secrets.token_urlsafe(18)

        def issue(session: Session) -> None:
            session.add(
                QRBindingToken(
                    token_mac=self._vault.mac("qr", token),
                    member_id=member_id,
                    expires_at=now + QR_LIFETIME,
                    created_by=actor,
                    created_at=now,
                )
            )
            member = session.get(Member, member_id)
            audit.record(session, now, actor, "issue_bind_qr", member.number if member else None)

        await self._db.run(issue)
        return token

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
            if session.get(Binding, openid) is not None:
                return Bound(Outcome.ALREADY_BOUND)
            row = session.scalar(
                select(kind).where(column == mac, kind.used_at.is_(None), kind.expires_at > now)
            )
            if row is None:
                session.add(BindingAttempt(openid=openid, at=now))
                return Bound(Outcome.INVALID)
            return self._bind(session, openid, row.member_id, method, now, used=row)

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
            return self._bind(session, req.openid, req.member_id, "approval", now)

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
        member_id: int,
        method: str,
        now: datetime,
        used: BindingCode | QRBindingToken | None = None,
    ) -> Bound:
        if session.scalar(select(Binding.openid).where(Binding.member_id == member_id)) is not None:
            return Bound(Outcome.TAKEN, member_id)
        member = session.get(Member, member_id)
        if member is None or not member.active:
            return Bound(Outcome.INVALID)
        if used is not None:
            used.used_at = now
        session.add(Binding(openid=openid, member_id=member_id, method=method, bound_at=now))
        return Bound(Outcome.BOUND, member_id, openid)


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
        if scope_path:
            query = query.where((OrgUnit.path == scope_path) | OrgUnit.path.startswith(scope_path + "/"))
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
        if scope_path:
            query = query.where((OrgUnit.path == scope_path) | OrgUnit.path.startswith(scope_path + "/"))
        return [(r[0], r[1]) for r in (await session.execute(query)).all()]
