"""Last in the tree: never silent. Unknown text gets the menu; other kinds say what partybot takes."""

from __future__ import annotations

from bot.context import Context
from bot.notices import notify_members, secretaries_for
from bot.replies import Reply, TextReply
from bot.router import Kind, Number, Router
from bot.wechat import Incoming


def router() -> Router:
    r = Router("fallback")

    @r.message(Number())
    async def unknown_number(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("menu_number_unknown", number=ctx.match["number"], menu=ctx.menu()))

    @r.message(Kind("text"))
    async def unknown_text(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("unknown_text", menu=ctx.menu()))

    @r.message(Kind("voice"))
    async def voice(msg: Incoming, ctx: Context) -> Reply | None:
        if msg.text:
            return TextReply(ctx.text("unknown_text", menu=ctx.menu()))
        # No Recognition (WeChat is retiring it): ask for text or a number; a member's secretary hears
        # that a voice message waits, so someone calls back (elderly members often cannot type).
        if ctx.identity.member_id is not None and ctx.identity.name:
            member_id, name = ctx.identity.member_id, ctx.identity.name
            secretaries = await ctx.db.run(lambda session: secretaries_for(session, member_id))
            if secretaries:
                await notify_members(
                    ctx.db,
                    ctx.clock.now(),
                    key=f"voice:{msg.dedupe_key}",
                    text=ctx.text("voice_waiting_notice", name=name),
                    member_ids=secretaries,
                )
                return TextReply(ctx.text("voice_unrecognised_member", menu=ctx.menu()))
        return TextReply(ctx.text("voice_unrecognised", menu=ctx.menu()))

    @r.message(Kind("location"))
    async def location(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("location_received", menu=ctx.menu()))

    @r.event()
    async def unused_event(msg: Incoming, ctx: Context) -> Reply | None:
        # SCAN (binding by QR comes with the members issue), VIEW, LOCATION reports, *JOBFINISH
        # (the outbound engine), clicks on keys nobody handles, and anything WeChat adds: `success`.
        return None

    @r.message()
    async def other_kind(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("unsupported_kind", kind=ctx.content.kind_name(msg.kind), menu=ctx.menu()))

    return r
