"""Menu items whose capability is not built yet answer honestly that it is coming, with the menu.

Each later issue adds a router for its intent ahead of this one (bot.app.build_root_router), which
takes the intent over; this router then no longer sees it.
"""

from __future__ import annotations

from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Router
from bot.wechat.wire import Incoming


def router() -> Router:
    r = Router("menu_items")

    def is_menu_intent(msg: Incoming, ctx: Context) -> bool:
        return any(item.intent == ctx.intent for item in ctx.content.menu(ctx.role))

    @r.route(is_menu_intent)
    async def coming_soon(msg: Incoming, ctx: Context) -> Reply | None:
        label = next(item.label for item in ctx.content.menu(ctx.role) if item.intent == ctx.intent)
        return TextReply(ctx.text("coming_soon", label=label, menu=ctx.menu()))

    return r
