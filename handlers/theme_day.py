"""主题党日 in chat. A member: `主题党日` (this month's event and their answer), `参加` / `请假 原因` (or a
bare 1 / 2 while an invitation waits for an answer), `签到 1234`, `已学` after 补学. A secretary also:
`签到码`, `补签 姓名`, `报名情况` (paged), `主题党日 设置` (topic → time → place, in steps), and a community
secretary `主题党日 情况` (each unit below this month)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.attendance import (
    CodeRefusal,
    SignIn,
    answer,
    confirm_make_up,
    has_unanswered,
    issue_code,
    pending_make_up,
    recent_event_of_unit,
    record_attendance,
    sign_in,
)
from bot.domain.binding import in_scope
from bot.domain.calendar import parse_when
from bot.domain.points import award
from bot.domain.policy import Role as R
from bot.domain.theme_day import (
    Schedule,
    answers,
    holder_for_path,
    month_of,
    month_overview,
    outcome,
    theme_day_of,
)
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Event, Intent, Regex, Role, Router, State
from bot.outbound.event_notices import Words, event_notice, unit_name
from bot.outbound.sizes import split_text
from bot.wechat.wire import Incoming
from models import Attendance, EventStatus, Invitation, Member, OrgUnit
from models import Event as EventRow

ANSWERS_STATE = "theme_day_answers"
SCENE = "signin:"  # the sign-in QR code's scene: signin:{event}:{code}
SET_STATE = "theme_day_set"
YES = r"(?:参加|我参加|我要参加|报名|我要报名|报名参加)"


def scan_router() -> Router:
    """The event's parametric QR code (a service account): scanning it signs the member in. Ahead of the
    binding router, which takes every other scene."""
    r = Router("theme_day_scan")

    @r.event(Event("subscribe", "scan"), lambda msg, ctx: (msg.scene or "").startswith(SCENE))
    async def scanned(msg: Incoming, ctx: Context) -> Reply | None:
        if msg.event == "subscribe":
            await ctx.services.users.subscribed(msg.openid, ctx.clock.now())
        code = (msg.scene or "").rsplit(":", 1)[-1]
        return await _sign_in(ctx, code, how="qr")

    return r


def router() -> Router:
    r = Router("theme_day", numbered=(SET_STATE,))
    secretaries = Role("secretary", "admin")

    @r.number_claim
    async def digit_answers(msg: Incoming, ctx: Context) -> str | None:
        member_id = ctx.identity.member_id
        if ctx.number not in (1, 2) or member_id is None:
            return None
        async with ctx.db.read() as session:
            if not await has_unanswered(session, member_id, ctx.clock.now()):
                return None
        return "theme_day_yes" if ctx.number == 1 else "theme_day_leave"

    # --- the secretary's commands (before the members' words they contain) --------------------------

    @r.message(secretaries, Regex(r"(?:生成)?签到码"))
    async def code(msg: Incoming, ctx: Context) -> Reply | None:
        return await _code(ctx)

    @r.message(Regex(r"(?:生成)?签到码"))
    async def code_refused(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("staff_only_secretary"))

    @r.message(secretaries, Regex(r"补签\s*(\S*)\s*(\S*)"))
    async def make_up_sign_in(msg: Incoming, ctx: Context) -> Reply | None:
        m = ctx.match["regex"]
        return await _make_up_sign_in(ctx, m.group(1), m.group(2))

    @r.message(Regex(r"补签.*"))
    async def make_up_sign_in_refused(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("staff_only_secretary"))

    @r.message(secretaries, Regex(r"报名(?:情况|名单|统计)"))
    async def rsvp_list(msg: Incoming, ctx: Context) -> Reply | None:
        return await _answers(ctx, page=1)

    @r.message(State(ANSWERS_STATE), Intent("next_page"))
    async def rsvp_next(msg: Incoming, ctx: Context) -> Reply | None:
        return await _answers(ctx, page=int(ctx.conversation.data.get("page", 1)) + 1)

    @r.message(secretaries, Regex(r"(?:主题党日|党日活动)\s*(?:设置|修改|安排)"))
    async def settle(msg: Incoming, ctx: Context) -> Reply | None:
        return await _set_start(ctx)

    @r.message(State(SET_STATE))
    async def settle_step(msg: Incoming, ctx: Context) -> Reply | None:
        return await _set_step(msg, ctx)

    @r.message(secretaries, Regex(r"(?:主题党日|党日活动)\s*(?:情况|统计|汇总)"))
    async def overview(msg: Incoming, ctx: Context) -> Reply | None:
        return await _overview(ctx)

    # --- members ------------------------------------------------------------------------------------

    @r.message(Regex(r"签到\s*(\d{4})"))
    async def sign(msg: Incoming, ctx: Context) -> Reply | None:
        return await _sign_in(ctx, ctx.match["regex"].group(1))

    @r.message(Regex(r"签到\s*\S*"))
    async def sign_format(msg: Incoming, ctx: Context) -> Reply | None:
        if ctx.identity.member_id is None:
            return TextReply(ctx.text("sign_in_not_member"))
        return TextReply(ctx.text("sign_in_format"))

    @r.route(Intent("theme_day_yes"))
    @r.message(Regex(YES))
    async def yes(msg: Incoming, ctx: Context) -> Reply | None:
        return await _answer(ctx, "yes", None)

    @r.route(Intent("theme_day_leave"))
    @r.message(Regex(r"请假\s*[:：,，]?\s*(.*)"))
    async def leave(msg: Incoming, ctx: Context) -> Reply | None:
        found = ctx.match.get("regex")
        reason = found.group(1).strip() if found else ""
        if not reason:
            if ctx.identity.member_id is None:
                return _not_member(ctx)
            return TextReply(ctx.text("theme_day_leave_reason"))
        return await _answer(ctx, "leave", reason)

    @r.message(Regex(r"(?:已学|学完了|已学习)"), lambda msg, ctx: ctx.identity.member_id is not None)
    async def made_up(msg: Incoming, ctx: Context) -> Reply | None:
        return await _made_up(ctx)

    @r.route(Intent("theme_day"))
    async def view(msg: Incoming, ctx: Context) -> Reply | None:
        return await _view(ctx)

    return r


# --- helpers -----------------------------------------------------------------------------------------


def _schedule(ctx: Context) -> Schedule:
    return Schedule.of(ctx.settings)


def _words(ctx: Context) -> Words:
    return Words(ctx.content, _schedule(ctx))


def _not_member(ctx: Context) -> Reply:
    return TextReply(ctx.text("theme_day_not_member", bind_hint=ctx.hint("bind"), menu=ctx.menu()))


def _month(ctx: Context) -> str:
    return month_of(_schedule(ctx).local(ctx.clock.now()).date())


def _holder_path(ctx: Context) -> str | None:
    """The unit whose events the person's commands act on: a secretary's own unit (the unit they lead), a
    member's branch."""
    identity = ctx.identity
    if R.SECRETARY in identity.roles:
        return identity.unit_path
    return identity.branch_path or identity.unit_path


async def _view(ctx: Context) -> Reply:
    member_id = ctx.identity.member_id
    if member_id is None:
        return _not_member(ctx)
    now, schedule, words = ctx.clock.now(), _schedule(ctx), _words(ctx)
    month = _month(ctx)
    path = ctx.identity.branch_path or ctx.identity.unit_path
    secretary = R.SECRETARY in ctx.identity.roles or R.ADMIN in ctx.identity.roles

    def read(session: Session) -> str:
        holder = holder_for_path(session, path)
        if holder is None:
            return ctx.text("theme_day_none")
        event = theme_day_of(session, holder, month, now, schedule, ctx.services.holidays)
        inv = session.scalar(
            select(Invitation).where(Invitation.event_id == event.id, Invitation.member_id == member_id)
        )
        signed = session.scalar(
            select(Attendance.at).where(Attendance.event_id == event.id, Attendance.member_id == member_id)
        )
        if signed is not None:
            status = ctx.text("theme_day_view_signed", time=f"{schedule.local(signed):%H:%M}")
        elif event.status != "planned" or now > schedule.window(event).closes:
            status = ctx.text("theme_day_view_over")
        elif inv is not None and inv.answer == "yes":
            status = ctx.text("theme_day_view_answer_yes")
        elif inv is not None and inv.answer == "leave":
            status = ctx.text("theme_day_view_answer_leave", reason=inv.reason or "")
        else:
            status = ctx.text("theme_day_view_answer_none")
        if secretary and event.status == EventStatus.CLOSED.value:
            held = outcome(session, event.id)
            status += "\n" + ctx.text(
                "theme_day_view_secretary_closed",
                invited=held.invited,
                present=len(held.present),
                leave=len(held.leave),
                absent=len(held.absent),
                rate=f"{held.rate:.0%}",
            )
        elif secretary:
            found = answers(session, event.id)
            status += "\n" + ctx.text(
                "theme_day_view_secretary", yes=len(found.yes), leave=len(found.leave), none=len(found.none)
            )
        fields = words.fields(event, unit_name(session, event.unit_id))
        return ctx.text(
            "theme_day_view",
            kind=fields["kind"],
            unit=fields["unit"],
            when=fields["when"],
            moved=fields["moved"],
            place=fields["place"],
            topic=fields["topic"],
            status=status,
        )

    return TextReply(await ctx.db.run(read))


async def _answer(ctx: Context, what: str, reason: str | None) -> Reply:
    member_id = ctx.identity.member_id
    if member_id is None:
        return _not_member(ctx)
    now, schedule, words = ctx.clock.now(), _schedule(ctx), _words(ctx)
    month = _month(ctx)
    path = ctx.identity.branch_path or ctx.identity.unit_path

    def write(session: Session) -> str:
        holder = holder_for_path(session, path)
        early = (
            theme_day_of(session, holder, month, now, schedule, ctx.services.holidays)
            if holder is not None
            else None
        )
        done = answer(session, member_id, what, reason, now, early)
        if done.event is None:
            return ctx.text("theme_day_nothing_to_answer")
        fields = words.fields(done.event, unit_name(session, done.event.unit_id))
        if what == "yes":
            text = ctx.text("theme_day_answered_yes", **fields)
        else:
            text = ctx.text("theme_day_answered_leave", reason=reason or "", **fields)
        return text + (ctx.text("theme_day_changed_note") if done.changed else "")

    return TextReply(await ctx.db.run(write))


async def _sign_in(ctx: Context, code: str, how: str = "code") -> Reply:
    member_id = ctx.identity.member_id
    if member_id is None:
        return TextReply(ctx.text("sign_in_not_member"))
    now, schedule, words = ctx.clock.now(), _schedule(ctx), _words(ctx)

    def write(session: Session) -> str:
        done = sign_in(session, member_id, code, now, schedule, how=how, award=award)
        local = schedule.local
        match done.result:
            case SignIn.DONE:
                assert done.event is not None and done.at is not None
                points = ctx.text("sign_in_points") if done.points else ""
                return ctx.text(
                    "sign_in_done", kind=words.kind(done.event), time=f"{local(done.at):%H:%M}", points=points
                )
            case SignIn.ALREADY:
                assert done.at is not None
                return ctx.text("sign_in_already", time=f"{local(done.at):%H:%M}")
            case SignIn.NOT_YET:
                assert done.window is not None
                return ctx.text("sign_in_not_yet", opens=ctx.content.moment(local(done.window.opens)))
            case SignIn.OVER:
                assert done.window is not None
                return ctx.text("sign_in_over", closes=ctx.content.moment(local(done.window.closes)))
            case _:
                return ctx.text(f"sign_in_{done.result.value}")

    return TextReply(await ctx.db.run(write))


async def _code(ctx: Context) -> Reply:
    path = _holder_path(ctx)
    now, schedule, words = ctx.clock.now(), _schedule(ctx), _words(ctx)
    member_id = ctx.identity.member_id

    def write(session: Session) -> tuple[str, str | None, datetime | None]:
        """(the reply, the QR code's scene, when the window closes) — a scene only when a code was issued."""
        holder = holder_for_path(session, path)
        if holder is None:
            return ctx.text("sign_in_code_none"), None, None
        issued = issue_code(session, holder, member_id, now, schedule)
        local = schedule.local
        if issued.refusal is CodeRefusal.NO_EVENT or issued.event is None:
            return ctx.text("sign_in_code_none"), None, None
        assert issued.window is not None
        closes = ctx.content.moment(local(issued.window.closes))
        if issued.refusal is CodeRefusal.NOT_YET:
            opens = ctx.content.moment(local(issued.window.opens))
            before = ctx.settings.sign_in_before_min
            when = words.when(issued.event)
            return ctx.text("sign_in_code_not_yet", before=before, when=when, opens=opens), None, None
        if issued.refusal is CodeRefusal.OVER:
            return ctx.text("sign_in_code_over", closes=closes), None, None
        text = ctx.text("sign_in_code", code=issued.code, closes=closes, qr="{qr}")
        return text, f"{SCENE}{issued.event.id}:{issued.code}", issued.window.closes

    text, scene, closes = await ctx.db.run(write)
    qr = ""
    if scene is not None and closes is not None:
        url = await ctx.services.qr_image_url(scene, int((closes - now).total_seconds()))
        qr = ctx.text("sign_in_code_qr", url=url) if url else ""
    return TextReply(text.replace("{qr}", qr))


async def _make_up_sign_in(ctx: Context, name: str, number: str) -> Reply:
    if not name:
        return TextReply(ctx.text("make_up_sign_in_format"))
    path = _holder_path(ctx)
    now, schedule, words = ctx.clock.now(), _schedule(ctx), _words(ctx)
    by = ctx.identity.member_id

    def write(session: Session) -> str:
        holder = holder_for_path(session, path)
        event = recent_event_of_unit(session, holder, now, schedule) if holder is not None else None
        if event is None or path is None:
            return ctx.text("make_up_sign_in_none")
        query = (
            select(Member.id, Member.number)
            .join(OrgUnit, OrgUnit.id == Member.unit_id)
            .where(Member.name == name, Member.active.is_(True), in_scope(path))
        )
        if number:
            query = query.where(Member.number == number)
        found = session.execute(query).all()
        if not found:
            return ctx.text("make_up_sign_in_not_found", name=name)
        if len(found) > 1:
            return ctx.text("make_up_sign_in_many", count=len(found), name=name, example=found[0][1])
        done = record_attendance(session, event, int(found[0][0]), "manual", now, by, award=award)
        if done.at != now:
            return ctx.text("make_up_sign_in_already", name=name)
        return ctx.text("make_up_sign_in_done", name=name, kind=words.kind(event), when=words.when(event))

    return TextReply(await ctx.db.run(write))


PAGE_BYTES = 1800


async def _answers(ctx: Context, page: int) -> Reply:
    path = _holder_path(ctx)
    now, schedule, words = ctx.clock.now(), _schedule(ctx), _words(ctx)
    month = _month(ctx)

    def read(session: Session) -> tuple[str, str, str]:
        holder = holder_for_path(session, path)
        if holder is None:
            return "", "", ""
        event = _current_event(session, holder, month, now, schedule, ctx)
        found = answers(session, event.id)
        leave = [
            ctx.text("answers_leave_item", name=n, reason=reason) if reason else n
            for _, n, reason in found.leave
        ]
        body = "\n".join(
            [
                ctx.text("answers_yes", count=len(found.yes), names=words.names([n for _, n in found.yes])),
                ctx.text("answers_leave", count=len(found.leave), names=words.names(leave)),
                ctx.text(
                    "answers_none", count=len(found.none), names=words.names([n for _, n in found.none])
                ),
            ]
        )
        return words.kind(event), words.when(event), body

    kind, when, body = await ctx.db.run(read)
    if not body:
        return TextReply(ctx.text("no_event_this_month"))
    pages = split_text(body, PAGE_BYTES) or [body]
    page = min(page, len(pages))
    text = ctx.text("answers_page", kind=kind, when=when, page=page, pages=len(pages), lines=pages[page - 1])
    if page < len(pages):
        ctx.enter(ANSWERS_STATE, page=page)
        text += "\n" + ctx.text("answers_more")
    else:
        ctx.conversation.clear()
    return TextReply(text)


def _current_event(
    session: Session, holder: int, month: str, now: datetime, schedule: Schedule, ctx: Context
) -> EventRow:
    """The unit's event the secretary means: the next one still to come or under way (in any month), else
    this month's theme day."""
    soon = session.scalar(
        select(EventRow)
        .where(
            EventRow.unit_id == holder,
            EventRow.status == "planned",
            EventRow.starts_at > now - schedule.sign_in_after,
        )
        .order_by(EventRow.starts_at)
        .limit(1)
    )
    return soon or theme_day_of(session, holder, month, now, schedule, ctx.services.holidays)


# --- 主题党日 设置 --------------------------------------------------------------------------------------


def _skip(ctx: Context, text: str) -> bool:
    return text.strip() in ctx.content.texts["skip_words"]


async def _set_start(ctx: Context) -> Reply:
    path = _holder_path(ctx)
    now, schedule, words = ctx.clock.now(), _schedule(ctx), _words(ctx)
    month = _month(ctx)

    def read(session: Session) -> dict[str, Any] | None:
        holder = holder_for_path(session, path)
        if holder is None:
            return None
        event = theme_day_of(session, holder, month, now, schedule, ctx.services.holidays)
        return {"event": event.id, "month": event.month, **words.fields(event, "")}

    found = await ctx.db.run(read)
    if found is None:
        return TextReply(ctx.text("no_event_this_month"))
    ctx.enter(SET_STATE, step="topic", event=found["event"], month=found["month"])
    return TextReply(ctx.text("set_step_topic", kind=found["kind"], when=found["when"], topic=found["topic"]))


async def _set_step(msg: Incoming, ctx: Context) -> Reply:
    data = ctx.conversation.data
    text = (msg.raw_text or msg.text or "").strip()
    schedule, words = _schedule(ctx), _words(ctx)
    now = ctx.clock.now()
    event_id = int(data["event"])

    async def current() -> dict[str, str]:
        def read(session: Session) -> dict[str, str]:
            event = session.get(EventRow, event_id)
            assert event is not None
            return words.fields(event, "")

        return await ctx.db.run(read)

    if data["step"] == "topic":
        if not _skip(ctx, text):
            data["topic"] = text[:200]
        ctx.enter(SET_STATE, **{**data, "step": "time"})
        return TextReply(
            ctx.text("set_step_time", example=_example(schedule, now), when=(await current())["when"])
        )
    if data["step"] == "time":
        if not _skip(ctx, text):
            when = parse_when(text, now, tz=ZoneInfo(ctx.settings.timezone))
            if when is None:
                return TextReply(ctx.text("set_time_bad", example=_example(schedule, now)))
            if when <= now:
                return TextReply(ctx.text("set_time_past"))
            month = str(data["month"])
            if month_of(schedule.local(when).date()) != month:
                return TextReply(ctx.text("set_time_other_month", month=int(month[5:])))
            data["starts_at"] = when.isoformat()
        ctx.enter(SET_STATE, **{**data, "step": "place"})
        return TextReply(ctx.text("set_step_place", place=(await current())["place"]))
    if not _skip(ctx, text):
        data["place"] = text[:200]
    ctx.conversation.clear()
    return TextReply(
        await ctx.db.run(lambda session: _save_settings(session, event_id, data, now, words, ctx))
    )


def _example(schedule: Schedule, now: datetime) -> str:
    local = schedule.local(now)
    return f"{local:%Y-%m-%d} 09:00"


def _save_settings(
    session: Session, event_id: int, data: dict[str, Any], now: datetime, words: Words, ctx: Context
) -> str:
    event = session.get(EventRow, event_id)
    assert event is not None
    changed = False
    if "topic" in data and data["topic"] != event.topic:
        event.topic, changed = str(data["topic"]), True
    if "place" in data and data["place"] != event.place:
        event.place, changed = str(data["place"]), True
    if "starts_at" in data:
        when = datetime.fromisoformat(str(data["starts_at"]))
        if when != event.starts_at:
            event.starts_at, event.date_fixed, changed = when, True, True
    event.updated_at = now
    notified = False
    if changed:
        session.flush()
        # Members already told of the event hear of the change (never for an unchanged save).
        told = session.scalar(select(Invitation.id).where(Invitation.event_id == event.id).limit(1))
        if told is not None:
            invited = list(
                session.scalars(select(Invitation.member_id).where(Invitation.event_id == event.id))
            )
            event_notice(
                session,
                event,
                "change",
                now,
                words,
                member_ids=invited,
                key=f"theme_day:{event.id}:change:{int(now.timestamp())}",
            )
            notified = True
    fields = words.fields(event, "")
    return ctx.text(
        "set_done",
        kind=fields["kind"],
        when=fields["when"],
        place=fields["place"],
        topic=fields["topic"],
        notified=ctx.text("set_done_notified" if notified else "set_done_quiet"),
    )


# --- 主题党日 情况 and 补学 ------------------------------------------------------------------------------


async def _overview(ctx: Context) -> Reply:
    path = ctx.identity.unit_path if R.ADMIN not in ctx.identity.roles else ""
    if path is None:
        return TextReply(ctx.text("overview_not_allowed"))
    month = _month(ctx)
    schedule = _schedule(ctx)
    now = ctx.clock.now()

    def read(session: Session) -> list[str]:
        lines = []
        for n, branch in enumerate(month_overview(session, path, month), start=1):
            when = ctx.content.moment(schedule.local(branch.starts_at)) if branch.starts_at else ""
            if branch.held:
                record = ctx.text("overview_record_yes" if branch.has_record else "overview_record_no")
                state = ctx.text("overview_held", rate=f"{branch.rate:.0%}", record=record)
            elif branch.closed or (branch.starts_at is not None and branch.starts_at < now):
                state = ctx.text("overview_not_held", when=when)
            else:
                state = ctx.text("overview_planned", when=when)
            lines.append(ctx.text("overview_line", n=n, name=branch.name, state=state))
        return lines

    lines = await ctx.db.run(read)
    if not lines:
        return TextReply(ctx.text("overview_none"))
    unit = path.rsplit("/", 1)[-1] if path else ctx.content.community_name
    year, m = (int(p) for p in month.split("-"))
    return TextReply(
        ctx.text(
            "overview", month=ctx.text("month_label", year=year, month=m), unit=unit, lines="\n".join(lines)
        )
    )


async def _made_up(ctx: Context) -> Reply:
    member_id = ctx.identity.member_id
    assert member_id is not None
    now, words = ctx.clock.now(), _words(ctx)

    def write(session: Session) -> str:
        if pending_make_up(session, member_id) is None:
            return ctx.text("make_up_nothing")
        done = confirm_make_up(session, member_id, now, award=award)
        assert done.event is not None
        points = ctx.text("make_up_points") if done.points else ""
        return ctx.text(
            "make_up_done", kind=words.kind(done.event), when=words.when(done.event), points=points
        )

    return TextReply(await ctx.db.run(write))
