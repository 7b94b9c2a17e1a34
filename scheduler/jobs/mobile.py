"""流动党员's month as of a moment: from the 25th (local), each mobile member who has not reported this
month gets one reminder; a member silent this month and the two before is reported to their secretaries and
their contact person (流动党员联络员) once a month, with the last known place and date. Notices go through
the outbound engine (voice for elderly members, a helper for the unreached) with keys per member, month and
kind (`report_in:remind:{member}:{month}`, `report_in:lost:{member}:{month}`): running twice, or again after
a restart, writes nothing new."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.content import Content
from bot.domain.mobile import (
    REMIND_DAY,
    SILENT_MONTHS,
    MobileMember,
    contact_and_secretaries,
    month_of,
    not_reported,
    silent,
)
from bot.outbound.notices import add_system_notice
from models import Notice
from scheduler.jobs.base import JobDeps


def _month_label(content: Content, month: str) -> str:
    year, m = (int(part) for part in month.split("-"))
    return content.text("month_label", year=year, month=m)


def _last(content: Content, member: MobileMember) -> str:
    if member.last is None:
        return content.text("mobile_lost_contact_never", destination=member.destination or "—")
    what = " ".join(part for part in (member.last.place, member.last.text) if part)
    return content.text("mobile_lost_contact_last", month=_month_label(content, member.last.month), what=what)


def _exists(session: Session, key: str) -> bool:
    return session.scalar(select(Notice.id).where(Notice.kind == "system", Notice.author == key)) is not None


def _remind(
    session: Session, *, month: str, now: datetime, zone: ZoneInfo, content: Content
) -> tuple[int, int]:
    reminded = alerted = 0
    label = _month_label(content, month)
    for member in not_reported(session, month):
        key = f"report_in:remind:{member.member_id}:{month}"
        if _exists(session, key):
            continue
        add_system_notice(
            session,
            now,
            key=key,
            text=content.text("mobile_reminder", name=member.name, month=label),
            member_ids=[member.member_id],
        )
        reminded += 1
    for member in silent(session, month, zone):
        key = f"report_in:lost:{member.member_id}:{month}"
        if _exists(session, key):
            continue
        recipients = contact_and_secretaries(session, member)
        if not recipients:
            continue
        add_system_notice(
            session,
            now,
            key=key,
            text=content.text(
                "mobile_lost_contact", name=member.name, months=SILENT_MONTHS, last=_last(content, member)
            ),
            member_ids=recipients,
            subject_member_id=member.member_id,
        )
        alerted += 1
    return reminded, alerted


async def report_in_reminders(deps: JobDeps, now: datetime) -> str:
    zone = ZoneInfo(deps.settings.timezone)
    if now.astimezone(zone).day < REMIND_DAY:
        return f"nothing before the {REMIND_DAY}th"
    month = month_of(now, zone)
    reminded, alerted = await deps.db.run(
        partial(_remind, month=month, now=now, zone=zone, content=deps.content)
    )
    return f"reminders {reminded}, lost-contact alerts {alerted}"
