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
