"""Follow / unfollow, and the events partybot receives but does not use (answered `success`)."""

from __future__ import annotations

from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Event, Router
from bot.outbound import notices
from bot.wechat.wire import Incoming


def router() -> Router:
    r = Router("events")

    @r.event(Event("subscribe"))
    async def subscribe(msg: Incoming, ctx: Context) -> Reply | None:
        await ctx.services.users.subscribed(msg.openid, ctx.clock.now())
        if ctx.identity.is_member and ctx.identity.name:
            return TextReply(
                ctx.text(
                    "welcome_member",
                    name=ctx.identity.name,
                    community=ctx.content.community_name,
                    menu=ctx.menu(),
                )
            )
        return TextReply(ctx.text("welcome", community=ctx.content.community_name, menu=ctx.menu()))

    @r.event(Event("unsubscribe"))
    async def unsubscribe(msg: Incoming, ctx: Context) -> Reply | None:
        await ctx.services.users.unsubscribed(msg.openid, ctx.clock.now())
        ctx.forget_user = True
        return None

    @r.event(Event("templatesendjobfinish"))
    async def template_finished(msg: Incoming, ctx: Context) -> Reply | None:
        if msg.msg_id is not None:
            await notices.template_finished(
                ctx.db, str(msg.msg_id), msg.fields.get("Status") or "", ctx.clock.now()
            )
        return None

    @r.event(Event("masssendjobfinish"))
    async def mass_finished(msg: Incoming, ctx: Context) -> Reply | None:
        if msg.msg_id is not None:
            counts = {
                name: int(msg.fields.get(field) or 0)
                for name, field in (
                    ("total", "TotalCount"),
                    ("filtered", "FilterCount"),
                    ("sent", "SentCount"),
                    ("errors", "ErrorCount"),
                )
                if (msg.fields.get(field) or "").isdigit()
            }
            await notices.mass_finished(ctx.db, str(msg.msg_id), counts, ctx.clock.now())
        return None

    return r
