"""The notices of organisation life, written as outbox rows through bot.outbound.notices (so an elderly
member gets voice, an unbound or unreached one a helper): the three notices before an event, a change of
its time or place, the summary to the secretary and 补学 to whoever was not there when the sign-in window
closes, and the community's check on the 28th.

Each notice has a key (`theme_day:{event}:{kind}`) and one outbox row per member (`notice:{id}:member:{m}`):
calling again adds only members who have not had it (someone who joined the branch since), never twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.content import Content
from bot.domain.meetings import attendees
from bot.domain.theme_day import Schedule, invite, load_units, month_overview, outcome
from bot.outbound.notices import add_system_notice, secretaries_of_unit
from models import Attendance, Event, EventStatus, Invitation, Notice, OrgUnit, UnitKind

RATE = "{:.0%}"


@dataclass(frozen=True, slots=True)
class Words:
    content: Content
    schedule: Schedule

    def kind(self, event: Event) -> str:
        return str(self.content.texts["event_kinds"].get(event.kind, event.kind))

    def when(self, event: Event) -> str:
        return self.content.moment(self.schedule.local(event.starts_at))

    def moved(self, event: Event) -> str:
        local = self.schedule.local(event.starts_at).date()
        if event.moved_for and event.planned_date and not event.date_fixed and event.planned_date != local:
            planned = datetime.combine(event.planned_date, datetime.min.time())
            return self.content.text(
                "theme_day_moved",
                planned=self.content.moment(planned, with_time=False),
                holiday=event.moved_for,
            )
        return ""

    def place(self, event: Event) -> str:
        return event.place or self.content.text("theme_day_default_place")

    def fields(self, event: Event, unit: str) -> dict[str, str]:
        return {
            "kind": self.kind(event),
            "unit": unit,
            "when": self.when(event),
            "place": self.place(event),
            "topic": event.topic,
            "text": event.text,
            "text_block": f"\n{event.text}" if event.text else "",
            "verb": str(self.content.texts["event_verbs"].get(event.kind, "")),
            "moved": self.moved(event),
        }

    def names(self, names: Sequence[str]) -> str:
        return "、".join(names) or self.content.text("names_none")


def unit_name(session: Session, unit_id: int) -> str:
    return str(session.scalar(select(OrgUnit.name).where(OrgUnit.id == unit_id)) or "")


def event_notice(
    session: Session,
    event: Event,
    kind: str,
    now: datetime,
    words: Words,
    *,
    member_ids: Sequence[int] | None = None,
    key: str | None = None,
) -> int:
    """The notice `kind` (week, eve, day, change) of an event to its members: everyone invited, less those
    on leave for the reminders. Invites members not invited yet. Returns the notice id."""
    if member_ids is None:
        # A 支部委员会 (发起活动) is for the committee only (bot.domain.meetings).
        member_ids = attendees(session, load_units(session), event)
    invite(session, event, member_ids, now)
    on_leave = set(
        session.scalars(
            select(Invitation.member_id).where(Invitation.event_id == event.id, Invitation.answer == "leave")
        )
    )
    recipients = list(member_ids) if kind == "week" else [m for m in member_ids if m not in on_leave]
    text = words.content.text(
        f"theme_day_notice_{kind}", **words.fields(event, unit_name(session, event.unit_id))
    )
    return add_system_notice(
        session,
        now,
        key=key or f"theme_day:{event.id}:{kind}",
        text=text,
        member_ids=recipients,
        extend=True,
    )


def close_event(session: Session, event: Event, now: datetime, words: Words) -> None:
    """The sign-in window is over: the secretaries get the summary, and every invited member who did not
    sign in (absent or on leave) gets the material for 补学."""
    found = outcome(session, event.id)
    unit = unit_name(session, event.unit_id)
    fields = words.fields(event, unit)
    summary = words.content.text(
        "theme_day_summary",
        **fields,
        invited=found.invited,
        present=len(found.present),
        leave=len(found.leave),
        absent=len(found.absent),
        rate=RATE.format(found.rate),
        present_names=words.names(found.present),
        leave_names=words.names(
            [words.content.text("answers_leave_item", name=n, reason=r) if r else n for n, r in found.leave]
        ),
        absent_names=words.names(found.absent),
        record_hint=words.content.text("theme_day_record_hint"),
        make_up_note=words.content.text("theme_day_make_up_note")
        if event.text and found.invited > len(found.present)
        else "",
    )
    add_system_notice(
        session,
        now,
        key=f"theme_day:{event.id}:summary",
        text=summary,
        member_ids=secretaries_of_unit(session, event.unit_id),
    )
    missing = list(
        session.scalars(
            select(Invitation.member_id).where(
                Invitation.event_id == event.id,
                Invitation.member_id.not_in(
                    select(Attendance.member_id).where(Attendance.event_id == event.id)
                ),
            )
        )
    )
    if missing and event.text:
        add_system_notice(
            session,
            now,
            key=f"theme_day:{event.id}:make_up",
            text=words.content.text("theme_day_make_up", **fields),
            member_ids=missing,
        )
        session.execute(
            update(Invitation)
            .where(Invitation.event_id == event.id, Invitation.member_id.in_(missing))
            .values(make_up_sent_at=now)
        )
    event.status = EventStatus.CLOSED.value
    event.closed_at = now
    event.updated_at = now


def community_check(session: Session, month: str, now: datetime, words: Words) -> int:
    """On the 28th: to each community's secretaries, once, the units below whose theme day this month was
    not held or has no record. Returns how many notices were written."""
    written = 0
    communities = session.execute(
        select(OrgUnit.id, OrgUnit.path).where(
            OrgUnit.kind == UnitKind.COMMUNITY.value, OrgUnit.active.is_(True)
        )
    )
    for unit_id, path in communities:
        key = f"theme_day:check:{unit_id}:{month}"
        if session.scalar(select(Notice.id).where(Notice.kind == "system", Notice.author == key)):
            continue
        lines = []
        for branch in month_overview(session, path, month):
            if not branch.held:
                when = (
                    words.content.moment(words.schedule.local(branch.starts_at)) if branch.starts_at else ""
                )
                lines.append(words.content.text("theme_day_check_not_held", name=branch.name, when=when))
            elif not branch.has_record:
                lines.append(words.content.text("theme_day_check_no_record", name=branch.name))
        secretaries = secretaries_of_unit(session, unit_id)
        if not lines or not secretaries:
            continue
        year, m = (int(part) for part in month.split("-"))
        add_system_notice(
            session,
            now,
            key=key,
            text=words.content.text(
                "theme_day_check",
                month=words.content.text("month_label", year=year, month=m),
                lines="\n".join(lines),
            ),
            member_ids=secretaries,
        )
        written += 1
    return written
