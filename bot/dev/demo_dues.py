"""The demo's 党费: the dues start a few months before the demo was first started (DEMO_DUES_MONTHS), most
members have paid up to last month, a few have 1, 3 and 6+ months unpaid, and one has reported `已交` for
this month, waiting for the secretary (`党费待确认`). Run once, when the demo community is seeded."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import dues, dues_ledger
from bot.settings import Settings
from models import Member
from models.db import Database

# How many months before the demo's first month its dues start: enough for a six-month alert.
DEMO_DUES_MONTHS = 8
# Members behind: how many of the last months they have not paid (None: nothing since the start).
DEMO_DUES_BEHIND: dict[str, int | None] = {"YX-005": 1, "YX-011": 3, "YX-014": None}
# Reported 已交 for this month, waiting for their secretary.
DEMO_DUES_CLAIM = "YX-008"


def demo_dues_start(today: date) -> str:
    return dues.add_months(dues.month_of(today), -DEMO_DUES_MONTHS)


async def seed_dues(settings: Settings, now: datetime) -> dict[str, int]:
    """Payments up to last month (source `demo`, no points), the members behind, and the one 已交 waiting.
    Returns how many member-months were recorded and claims made."""
    db = Database(settings.database_url)

    def write(session: Session) -> dict[str, int]:
        start = dues.start_month(session, settings.dues_start_month, settings.timezone)
        current = dues.local_month(now, settings.timezone)
        rec = dues_ledger.Recorder(
            by=None,
            now=now,
            source="demo",
            start=start,
            timezone=settings.timezone,
            rounding=settings.dues_rounding,
        )
        members = session.execute(
            select(Member.id, Member.number, Member.unit_id)
            .where(Member.active.is_(True))
            .order_by(Member.id)
        ).all()
        facts = dues.load_facts(session, [int(m) for m, _, _ in members], start)
        done = {"months": 0, "claims": 0}
        for member_id, number, unit_id in members:
            f = facts[int(member_id)]
            months = dues.months_between(f.first_month, dues.add_months(current, -1))
            if number in DEMO_DUES_BEHIND:
                behind = DEMO_DUES_BEHIND[number]
                months = [] if behind is None else months[: max(0, len(months) - behind)]
            months = [
                m for m in months if (d := dues.due_for(f, m, rec.rounding)) is not None and d.amount_fen
            ]
            if months and dues_ledger.pay_months(session, int(member_id), months, rec).refusal is None:
                done["months"] += len(months)
            if number == DEMO_DUES_CLAIM:
                dues_ledger.claim(session, int(member_id), int(unit_id), [current], now)
                done["claims"] += 1
        return done

    try:
        return await db.run(write)
    finally:
        await db.dispose()
