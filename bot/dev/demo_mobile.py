"""The demo's 流动党员: every mobile member of the roster (人员类型 流动 / 流动去向) is registered with their
branch secretary as contact; 李文博 (YX-007) reported the last two months, 徐明亮 (YX-015) last month,
白海峰 (YX-034) has been silent for three months (the report_in_reminders job alerts his secretary), and
邵雪梅 (YX-033) was registered only this month. Run once, when the demo community is seeded."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.mobile import ensure_registration, is_mobile, month_of, previous_month
from bot.outbound.notices import secretaries_for
from bot.settings import Settings
from models import Member, MobileReport
from models.db import Database

# number → (months back, text, place) of past report-ins.
DEMO_REPORTS: dict[str, list[tuple[int, str, str]]] = {
    "YX-007": [
        (2, "在杭州余杭做电工，参加了当地党群服务中心的学习", "浙江省杭州市余杭区"),
        (1, "还在余杭工地，一切都好", ""),
    ],
    "YX-015": [(1, "在深圳宝安一家工厂做焊工", "广东省深圳市宝安区")],
}
DEMO_SILENT = "YX-034"  # registered half a year ago, no report for three months
DEMO_NEW = "YX-033"  # registered this month


async def seed_mobile(settings: Settings, now: datetime) -> dict[str, int]:
    """Registrations and past report-ins. Returns how many of each were written."""
    zone = ZoneInfo(settings.timezone)
    month = month_of(now, zone)
    db = Database(settings.database_url)

    def write(session: Session) -> dict[str, int]:
        done = {"registrations": 0, "reports": 0}
        for member in session.scalars(select(Member).where(Member.active.is_(True)).order_by(Member.number)):
            if not is_mobile(member, None):
                continue
            reg = ensure_registration(session, member, now)
            reg.registered_by = "demo"
            reg.registered_at = now if member.number == DEMO_NEW else now - timedelta(days=180)
            secretaries = secretaries_for(session, member.id)
            reg.contact_id = secretaries[0] if secretaries else None
            done["registrations"] += 1
            for back, text, place in DEMO_REPORTS.get(member.number, []):
                at = now - timedelta(days=30 * back)
                session.add(
                    MobileReport(
                        member_id=member.id,
                        month=previous_month(month, back),
                        text=text,
                        place=place,
                        reported_at=at,
                        updated_at=at,
                    )
                )
                done["reports"] += 1
        return done

    try:
        return await db.run(write)
    finally:
        await db.dispose()
