"""党员绑定: a one-time code (typed, full-width or spoken), a personal QR code, or a name + phone-tail
request for the secretary; grid workers (网格员) bind with a code or a QR code too. Says what partybot keeps
at binding (privacy notice)."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.domain.binding import Bound, Outcome
from bot.domain.members import voice_on
from bot.domain.policy import Action, may
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Event, Intent, Regex, Role, Router, State
from bot.wechat.wire import Incoming
from models import Member, OrgUnit, Staff

SPOKEN_DIGITS = str.maketrans("零〇一二三四五六七八九幺两", "0012345678912")
CODE = re.compile(r"(?:绑定\s*)?([0-9零〇一二三四五六七八九幺两]{6})")
NAME_TAIL = re.compile(r"(?:绑定\s*)?([^\d\s]{2,20})\s*(\d{4})")


def router() -> Router:
    r = Router("binding")

    @r.event(Event("subscribe", "scan"), lambda msg, ctx: bool(msg.scene))
    async def scanned(msg: Incoming, ctx: Context) -> Reply | None:
        """A personal QR code: follow-by-scan or scan by a follower."""
        now = ctx.clock.now()
        if msg.event == "subscribe":
            await ctx.services.users.subscribed(msg.openid, now)
        binder = ctx.services.binder
        if binder is None:
            return TextReply(ctx.text("bind_not_ready"))
        result = await binder.redeem_qr(msg.openid, msg.scene or "", now)
        if result.outcome is Outcome.INVALID:
            return TextReply(ctx.text("bind_qr_invalid"))
        return await answer(ctx, result)

    bindable = Role("resident", "grid_worker")

    def redeems(msg: Incoming, ctx: Context) -> bool:
        """Who is not bound as a member may send the bare code; a member (given a grid worker's code, say)
        says 绑定 first, so that six digits meant for something else are not taken for a code."""
        return may(ctx.identity, Action.BIND) or (
            may(ctx.identity, Action.REDEEM_CODE) and msg.text.startswith("绑定")
        )

    @r.message(redeems, Regex(CODE))
    async def by_code(msg: Incoming, ctx: Context) -> Reply | None:
        binder = ctx.services.binder
        if binder is None:
            return TextReply(ctx.text("bind_not_ready"))
        code = ctx.match["regex"].group(1).translate(SPOKEN_DIGITS)
        return await answer(ctx, await binder.redeem_code(msg.openid, code, ctx.clock.now()))

    @r.message(
        bindable,
        Regex(NAME_TAIL),
        lambda msg, ctx: msg.text.startswith("绑定") or ctx.conversation.name == "bind",
    )
    async def by_name(msg: Incoming, ctx: Context) -> Reply | None:
        binder = ctx.services.binder
        if binder is None:
            return TextReply(ctx.text("bind_not_ready"))
        found = ctx.match["regex"]
        result = await binder.request_by_name(
            msg.openid,
            found.group(1),
            found.group(2),
            ctx.clock.now(),
            notify=ctx.text("binding_request_notice"),
        )
        return await answer(ctx, result)

    @r.message(bindable, Regex(r"绑定\s*\S.*"))
    async def wrong_format(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("bind_format"))

    @r.route(Intent("bind"))
    async def guide(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.BIND) or ctx.identity.is_member:
            return TextReply(ctx.text("bind_already"))
        ctx.enter("bind")
        return TextReply(ctx.text("bind_guide"))

    @r.message(State("bind"))
    async def wrong_format_in_guide(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("bind_format"))

    return r


async def answer(ctx: Context, result: Bound) -> Reply:
    """What the user reads after an attempt; a name request reads the same whether it matched or not."""
    if result.outcome is Outcome.BOUND:
        ctx.conversation.clear()
        ctx.services.identities.invalidate(ctx.openid)
        if result.moved_from is not None:
            ctx.services.identities.invalidate(result.moved_from)
        if result.staff_id is not None:
            return TextReply(await welcome_staff(ctx, result.staff_id))
        return TextReply(await welcome(ctx, result.member_id))
    if result.outcome is Outcome.OTHER_PERSON:
        return TextReply(ctx.text("bind_other_person", name=ctx.identity.name or ""))
    text = {
        Outcome.ALREADY_BOUND: "bind_already_staff" if result.staff_id is not None else "bind_already",
        Outcome.TAKEN: "bind_taken",
        Outcome.INVALID: "bind_invalid",
        Outcome.REQUESTED: "bind_requested",
        Outcome.LIMITED: "bind_limited",
    }[result.outcome]
    if result.outcome is Outcome.REQUESTED:
        ctx.conversation.clear()
    return TextReply(ctx.text(text))


async def welcome(ctx: Context, member_id: int | None) -> str:
    async with ctx.db.read() as session:
        row = (
            await session.execute(
                select(Member, OrgUnit.name)
                .join(OrgUnit, Member.unit_id == OrgUnit.id)
                .where(Member.id == member_id)
            )
        ).first()
        if row is None:
            return ctx.text("bind_invalid")
        member, unit = row[0], row[1]
        helper = await session.get(Member, member.helper_id) if member.helper_id else None
    extra = ""
    if voice_on(member, ctx.clock.now().year):
        extra += ctx.text("bind_voice_on")
    if helper is not None:
        extra += ctx.text("bind_helper", helper=helper.name)
    return ctx.text(
        "bind_ok",
        name=member.name,
        unit=unit,
        extra=extra + "\n" if extra else "",
        privacy=ctx.text("privacy_notice"),
    )


async def welcome_staff(ctx: Context, staff_id: int) -> str:
    """A grid worker's welcome: who they are (name, grid) and what partybot keeps."""
    async with ctx.db.read() as session:
        row = (
            await session.execute(
                select(Staff, OrgUnit.name)
                .join(OrgUnit, Staff.unit_id == OrgUnit.id)
                .where(Staff.id == staff_id)
            )
        ).first()
    if row is None:
        return ctx.text("bind_invalid")
    staff, unit = row[0], row[1]
    return ctx.text(
        "bind_ok_staff", name=staff.name, unit=unit, role=staff.role, privacy=ctx.text("privacy_notice_staff")
    )
