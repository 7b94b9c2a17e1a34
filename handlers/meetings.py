"""发起活动: a secretary calls a meeting of 三会一课 for their unit in numbered steps — kind (1 支部委员会
2 党小组会 3 支部党员大会 4 党课) → topic → time → place → `确认`. The meeting is an Event like the theme day:
its members (a 支部委员会: the committee) are invited and get the first notice at once through the
outbound engine; the theme_day job sends the reminders and closes it.

Conversation `meeting`: step kind → topic → time → place → confirm."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.domain.calendar import parse_when
from bot.domain.meetings import (
    LIMITS,
    MEETING_KINDS,
    TimeProblem,
    attendees,
    attendees_of,
    check_time,
    create_meeting,
    text_ok,
)
from bot.domain.policy import Action, may
from bot.domain.theme_day import Schedule, due_notice, invite, load_units
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Regex, Router, State
from bot.outbound.event_notices import Words, event_notice, unit_name
from bot.wechat.wire import Incoming
from handlers.records import own_unit
from models import EventKind

ENTRY = Regex(r"发起活动|发起会议|召开会议|发起三会一课|三会一课")


def router() -> Router:
    r = Router("meetings", numbered=("meeting",))

    @r.message(ENTRY)
    async def start(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.CALL_MEETINGS):
            return TextReply(ctx.text("meeting_refused"))
        unit_id = await own_unit(ctx)
        if unit_id is None:
            return TextReply(ctx.text("meeting_no_unit"))
        ctx.enter("meeting", step="kind", unit=unit_id)
        return TextReply(ctx.text("meeting_ask_kind", options=kind_options(ctx)))

    @r.message(State("meeting"))
    async def step(msg: Incoming, ctx: Context) -> Reply | None:
        data = dict(ctx.conversation.data)
        current = str(data.get("step"))
        text = (msg.raw_text or msg.text).strip() if msg.kind == "text" else ""
        if current == "kind":
            kind = pick_kind(ctx, text)
            if kind is None:
                return TextReply(ctx.text("meeting_kind_bad", options=kind_options(ctx)))
            remember(ctx, step="topic", kind=kind.value)
            return TextReply(ctx.text("meeting_ask_topic", kind=kind_label(ctx, kind.value)))
        if current == "topic":
            if not text_ok("topic", text):
                low, high = LIMITS["topic"]
                return TextReply(ctx.text("meeting_topic_bad", low=low, high=high))
            remember(ctx, step="time", topic=text)
            return TextReply(ctx.text("meeting_ask_time", example=example_time(ctx)))
        if current == "time":
            return read_time(ctx, text)
        if current == "place":
            if not text_ok("place", text):
                low, high = LIMITS["place"]
                return TextReply(ctx.text("meeting_place_bad", low=low, high=high))
            remember(ctx, step="confirm", place=text)
            return TextReply(await confirm_text(ctx, {**data, "place": text}))
        if msg.text in set(ctx.content.texts["meeting_confirm_words"]):
            return await create(ctx, data)
        return TextReply(await confirm_text(ctx, data))

    return r


def remember(ctx: Context, **values: Any) -> None:
    ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, **values)


def zone(ctx: Context) -> ZoneInfo:
    return ZoneInfo(ctx.settings.timezone)


def kind_label(ctx: Context, kind: str) -> str:
    kinds: dict[str, str] = ctx.content.texts["event_kinds"]
    return kinds.get(kind, kind)


def kind_options(ctx: Context) -> str:
    return "\n".join(
        ctx.text("meeting_kind_option", number=i, label=kind_label(ctx, kind.value))
        for i, kind in enumerate(MEETING_KINDS, 1)
    )


def pick_kind(ctx: Context, text: str) -> EventKind | None:
    if ctx.number is not None:
        return MEETING_KINDS[ctx.number - 1] if 1 <= ctx.number <= len(MEETING_KINDS) else None
    return next((k for k in MEETING_KINDS if text and text == kind_label(ctx, k.value)), None)


def example_time(ctx: Context) -> str:
    """An example in the format the parser reads: tomorrow at 15:00."""
    tomorrow = ctx.clock.now().astimezone(zone(ctx)) + timedelta(days=1)
    return f"{tomorrow:%Y-%m-%d} 15:00"


def read_time(ctx: Context, text: str) -> Reply:
    now = ctx.clock.now()
    when = parse_when(text, now, tz=zone(ctx)) if text else None
    problem = check_time(when, now)
    if problem is TimeProblem.UNREADABLE or when is None:
        return TextReply(ctx.text("meeting_time_bad", example=example_time(ctx)))
    if problem is TimeProblem.PAST:
        return TextReply(ctx.text("meeting_time_past", when=ctx.content.moment(when)))
    remember(ctx, step="place", starts_at=when.isoformat())
    return TextReply(ctx.text("meeting_ask_place"))


async def audience(ctx: Context, data: dict[str, Any]) -> tuple[str, int]:
    """Who is notified (in words) and how many."""
    unit_id, kind = int(data["unit"]), str(data["kind"])

    def count(session: Session) -> tuple[str, int]:
        return unit_name(session, unit_id), len(attendees_of(session, load_units(session), unit_id, kind))

    async with ctx.db.read() as session:
        unit, n = await session.run_sync(count)
    key = "meeting_audience_committee" if kind == EventKind.COMMITTEE.value else "meeting_audience_all"
    return ctx.text(key, unit=unit), n


async def confirm_text(ctx: Context, data: dict[str, Any]) -> str:
    label, n = await audience(ctx, data)
    return ctx.text(
        "meeting_confirm",
        kind=kind_label(ctx, str(data["kind"])),
        topic=data["topic"],
        when=ctx.content.moment(datetime.fromisoformat(str(data["starts_at"])).astimezone(zone(ctx))),
        place=data["place"],
        audience=label,
        count=n,
    )


async def create(ctx: Context, data: dict[str, Any]) -> Reply:
    if not may(ctx.identity, Action.CALL_MEETINGS):
        ctx.conversation.clear()
        return TextReply(ctx.text("meeting_refused"))
    now = ctx.clock.now()
    starts_at = datetime.fromisoformat(str(data["starts_at"]))
    if starts_at <= now:  # the time passed while they confirmed
        remember(ctx, step="time")
        return TextReply(
            ctx.text("meeting_time_past", when=ctx.content.moment(starts_at.astimezone(zone(ctx))))
        )
    label, n = await audience(ctx, data)
    if n == 0:
        ctx.conversation.clear()
        return TextReply(ctx.text("meeting_nobody", audience=label))
    schedule = Schedule.of(ctx.settings)
    words = Words(ctx.content, schedule)
    author, tz = ctx.identity.member_id, zone(ctx)

    def call(session: Session) -> int:
        event = create_meeting(
            session,
            kind=str(data["kind"]),
            unit_id=int(data["unit"]),
            topic=str(data["topic"]),
            starts_at=starts_at,
            place=str(data["place"]),
            created_by=author,
            now=now,
            zone=tz,
        )
        members = attendees(session, load_units(session), event)
        invite(session, event, members, now)
        # The full notice goes now, under the key of the notice due now (a meeting called for tomorrow
        # evening is past its week notice's moment): the job then sends only the reminders still to come.
        due = due_notice(event, schedule, now) or "week"
        event_notice(
            session, event, "week", now, words, member_ids=members, key=f"theme_day:{event.id}:{due}"
        )
        return len(members)

    count = await ctx.db.run(call)
    ctx.conversation.clear()
    return TextReply(
        ctx.text(
            "meeting_created",
            kind=kind_label(ctx, str(data["kind"])),
            when=ctx.content.moment(starts_at.astimezone(tz)),
            place=data["place"],
            count=count,
            before=ctx.settings.sign_in_before_min,
        )
    )
