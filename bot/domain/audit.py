"""The append-only audit log of staff reading or exporting people's data (PIPL; kept ≥ 6 months)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models import AuditEntry


def actor_for(
    openid: str | None = None, member_number: str | None = None, cli_user: str | None = None
) -> str:
    if cli_user is not None:
        return f"cli:{cli_user}"
    if member_number is not None:
        return f"member:{member_number}"
    digest = hashlib.sha256((openid or "").encode()).hexdigest()[:12]
    return f"openid:{digest}"


def record(session: Session, at: datetime, actor: str, action: str, scope: str | None, **detail: Any) -> None:
    """Append one entry, in the caller's transaction (nothing in partybot updates or deletes them)."""
    session.add(AuditEntry(at=at, actor=actor, action=action, scope=scope, detail=detail))


def search(
    session: Session,
    *,
    actor: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[AuditEntry], int]:
    """Entries newest first, filtered (actor: a part of it; action: exactly; `since` ≤ at < `until`), one
    page of them (page_size 0: all), and how many matched."""
    from sqlalchemy import func, select

    where: list[Any] = []
    if actor:
        escaped = actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(AuditEntry.actor.like(f"%{escaped}%", escape="\\"))
    if action:
        where.append(AuditEntry.action == action)
    if since is not None:
        where.append(AuditEntry.at >= since)
    if until is not None:
        where.append(AuditEntry.at < until)
    total = int(session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0)
    query = select(AuditEntry).where(*where).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if page_size:
        query = query.offset((max(1, page) - 1) * page_size).limit(page_size)
    return list(session.scalars(query)), total


def actions(session: Session) -> list[str]:
    """The actions recorded so far, for a filter."""
    from sqlalchemy import select

    return sorted(str(a) for a in session.scalars(select(AuditEntry.action).distinct()))
