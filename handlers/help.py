"""帮助/菜单 and 取消: always first, so a user can always get out and see the menu."""

from __future__ import annotations

from bot.domain.policy import Role
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
        # `帮助` greets by name; a bare 0 (back to the menu) just shows it.
        return TextReply(ctx.menu() if ctx.number == 0 else greeting(ctx) + ctx.menu())

    return r


def greeting(ctx: Context) -> str:
    """A bound person is greeted by name before the numbers (a member as 同志), as a stranger is welcomed."""
    name = ctx.identity.name
    if not name:
        return ""
    if ctx.identity.is_member:
        return ctx.text("greeting_member", name=name) + "\n"
    if Role.GRID_WORKER in ctx.identity.roles:
        return ctx.text("greeting_staff", name=name) + "\n"
    return ""
