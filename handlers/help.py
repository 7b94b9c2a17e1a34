"""帮助/菜单 and 取消: always first, so a user can always get out and see the menu."""

from __future__ import annotations

from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Router
from bot.wechat.wire import Incoming


def router() -> Router:
    r = Router("help")

    @r.route(Intent("cancel"))
    async def cancel(msg: Incoming, ctx: Context) -> Reply | None:
        ctx.conversation.clear()
        return TextReply(ctx.text("cancelled", menu=ctx.menu()))

    @r.route(Intent("help"))
    async def show_menu(msg: Incoming, ctx: Context) -> Reply | None:
        # The menu's numbers mean menu items, so showing it leaves any conversation.
        ctx.conversation.clear()
        return TextReply(ctx.menu())

    return r
