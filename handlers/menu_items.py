"""Capabilities not built yet answer honestly that they are coming, with the menu: their menu item, and
their words (`建议 …`, `报名`, `签到`, `我的诉求`), which get the same answer as the item.

Which capabilities these are is data (content/menus.yaml `coming_soon`). Each later issue adds a router for
its intent ahead of this one (bot.app.build_root_router) and removes the intent from that list.
"""

from __future__ import annotations

from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Router
from bot.wechat.wire import Incoming


def router() -> Router:
    r = Router("menu_items")

    def not_for_them(msg: Incoming, ctx: Context) -> bool:
        """A menu item of their role that does not apply to them (流动报到 for a member who is not mobile)."""
        items = ctx.content.menu(ctx.role)
        visible = {item.intent for _, item in ctx.content.entries(ctx.role, ctx.traits)}
        return any(item.intent == ctx.intent and item.intent not in visible for item in items)

    @r.route(not_for_them)
    async def not_applicable(msg: Incoming, ctx: Context) -> Reply | None:
        label = next(item.label for item in ctx.content.menu(ctx.role) if item.intent == ctx.intent)
        return TextReply(ctx.text("not_for_you", label=label, menu=ctx.menu()))

    def is_coming(msg: Incoming, ctx: Context) -> bool:
        return ctx.intent in ctx.content.coming_soon

    @r.route(is_coming)
    async def coming_soon(msg: Incoming, ctx: Context) -> Reply | None:
        intent = str(ctx.intent)
        # The label they know from their own menu, else the capability's name.
        label = next(
            (item.label for _, item in ctx.content.entries(ctx.role, ctx.traits) if item.intent == intent),
            ctx.content.coming_soon[intent],
        )
        return TextReply(ctx.text("coming_soon", label=label, menu=ctx.menu()))

    return r
