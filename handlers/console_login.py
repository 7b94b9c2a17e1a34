"""`登录 4821`, or a scan of the page's QR code: a staff member confirms the web console's login page showing
that code (bot.domain.console).
Who may log in is bot.domain.policy's Action.USE_CONSOLE; the answer is the passive reply."""

from __future__ import annotations

import re

from bot.domain import console
from bot.domain.policy import Action, may
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Event, Regex, Router
from bot.wechat.wire import Incoming

LOGIN = re.compile(rf"登录\s*[:：]?\s*(\d{{{console.CODE_DIGITS}}})")


def router() -> Router:
    r = Router("console_login")

    @r.message(Regex(LOGIN))
    async def confirm(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.USE_CONSOLE):
            return TextReply(ctx.text("console_login_refused"))
        code = ctx.match["regex"].group(1)
        openid, now = ctx.openid, ctx.clock.now()
        confirmed = await ctx.db.run(lambda session: console.confirm_code(session, code, openid, now))
        if not confirmed:
            return TextReply(ctx.text("console_login_unknown"))
        return TextReply(ctx.text("console_login_done", name=ctx.identity.name or ""))

    @r.event(Event("subscribe", "scan"), lambda msg, ctx: (msg.scene or "").startswith(console.SCENE))
    async def scanned(msg: Incoming, ctx: Context) -> Reply | None:
        """The login page's QR code (a verified service account), scanned instead of sending the code."""
        if not may(ctx.identity, Action.USE_CONSOLE):
            return TextReply(ctx.text("console_login_refused"))
        scene, openid, now = msg.scene or "", ctx.openid, ctx.clock.now()
        confirmed = await ctx.db.run(lambda session: console.confirm_scan(session, scene, openid, now))
        if not confirmed:
            return TextReply(ctx.text("console_login_scan_stale"))
        return TextReply(ctx.text("console_login_done", name=ctx.identity.name or ""))

    return r
