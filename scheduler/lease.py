"""A lease in the database: exactly one process holds it (and runs the scheduled jobs) at a time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from models import Lease
from models.db import Database, dialect_insert


class DatabaseLease:
    def __init__(self, db: Database, name: str, owner: str, ttl_s: float, clock: Clock) -> None:
        self._db, self.name, self.owner, self._ttl, self._clock = (
            db,
            name,
            owner,
            timedelta(seconds=ttl_s),
            clock,
        )
        self.held = False

    async def acquire(self) -> bool:
        """Take or renew the lease; True while this process holds it. A holder that stops renewing (a
        killed process) loses it once it expires."""
        now = self._clock.now()
        name, owner, until = self.name, self.owner, now + self._ttl

        def grab(session: Session) -> bool:
            session.execute(
                dialect_insert(session)(Lease)
                .values(name=name, owner=owner, expires_at=until)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            # Atomic per row: of two processes racing for an expired lease, the second finds it taken.
            taken = session.execute(
                update(Lease)
                .where(Lease.name == name, or_(Lease.owner == owner, Lease.expires_at <= now))
                .values(owner=owner, expires_at=until)
            )
            return bool(getattr(taken, "rowcount", 0) == 1)

        self.held = await self._db.run(grab)
        return self.held

    async def release(self) -> None:
        """Graceful shutdown: let another process take over at once."""
        if not self.held:
            return
        now, name, owner = self._clock.now(), self.name, self.owner
        await self._db.run(
            lambda session: session.execute(
                update(Lease).where(Lease.name == name, Lease.owner == owner).values(expires_at=now)
            )
        )
        self.held = False
