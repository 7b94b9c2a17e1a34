"""居民诉求 in chat, the handlers' side: a grid worker bound to WeChat, a member holding the category's
volunteer post (or a 委员) for their branch, a secretary for their unit (bot.domain.requests decides whose
tickets are whose). `接单 R…`, `进展 R… 说明`, `转派 R… 组织名 原因`, `复杂 R…`, `办结 R… 说明`, `待办`
(paged with 下一页, oldest first, phones masked), `诉求 R…` (one ticket and its history), `电话 R…` (the
reporter's phone, for whoever took it; audited by the domain).

Conversation: `request_todo` (the page of 待办 shown)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.domain.policy import Action, may, scope
from bot.domain.request_rates import Rates, rates
from bot.domain.requests import (
    Handler,
    Refused,
    TicketView,
    act,
    handler_for,
    incomplete,
    reporter_phone,
    ticket_for,
    todo,
)
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Regex, Router, State
from bot.wechat.wire import Incoming
from handlers.requests import (
    NUMBER,
    history_text,
    raw,
    read,
    refused_text,
    rules_of,
    say,
    show_mine,
    show_own,
    state_label,
    taker,
    ticket_head,
    ticket_number,
    when,
)

TODO = "request_todo"
PAGE = 6  # a page of 待办 fits one passive reply (~2048 bytes)
PAGE_BYTES = 1900
SNIPPET = 24
SEP = r"[\s，,:：。]*"
OPTIONAL_NUMBER = r"(?:" + NUMBER + r")?"
TAKE = re.compile(r"接单" + SEP + OPTIONAL_NUMBER, re.IGNORECASE)
PROGRESS = re.compile(r"进展" + SEP + OPTIONAL_NUMBER + SEP + r"(.*)", re.IGNORECASE | re.DOTALL)
TRANSFER = re.compile(
    r"转派" + SEP + OPTIONAL_NUMBER + SEP + r"(\S*)" + SEP + r"(.*)", re.IGNORECASE | re.DOTALL
)
COMPLEX = re.compile(r"(?:复杂|复杂件|复杂诉求)" + SEP + NUMBER, re.IGNORECASE)
SOLVE = re.compile(r"办结" + SEP + OPTIONAL_NUMBER + SEP + r"(.*)", re.IGNORECASE | re.DOTALL)
VIEW = re.compile(r"(?:诉求|工单)" + SEP + NUMBER, re.IGNORECASE)
PHONE = re.compile(r"(?:电话|手机|居民电话)" + SEP + NUMBER, re.IGNORECASE)
STATS = re.compile(
    r"(?:诉求统计|诉求情况|三率)" + SEP + r"(?:(\d{4})\s*[-年./]\s*)?(\d{1,2})?\s*月?(上月|本月)?"
)


def _number(found: re.Match[str]) -> str | None:
    return ticket_number(found.group(1), found.group(2)) if found.group(1) else None


def _again(pattern: re.Pattern[str], msg: Incoming, ctx: Context) -> re.Match[str]:
    """The command matched on what the person wrote (notes keep their case and line breaks)."""
    found = pattern.fullmatch(raw(msg))
    return found if found is not None else ctx.match["regex"]


def router() -> Router:
    r = Router("request_staff")

    @r.message(Regex(TAKE))
    async def taking(msg: Incoming, ctx: Context) -> Reply | None:
        return await _act(ctx, _number(ctx.match["regex"]), "take", "")

    @r.message(Regex(PROGRESS))
    async def progressing(msg: Incoming, ctx: Context) -> Reply | None:
        found = _again(PROGRESS, msg, ctx)
        return await _act(ctx, _number(found), "progress", found.group(3).strip())

    @r.message(Regex(TRANSFER))
    async def transferring(msg: Incoming, ctx: Context) -> Reply | None:
        found = _again(TRANSFER, msg, ctx)
        return await _act(ctx, _number(found), "transfer", found.group(4).strip(), unit=found.group(3))

    @r.message(Regex(COMPLEX))
    async def complicated(msg: Incoming, ctx: Context) -> Reply | None:
        return await _act(ctx, _number(ctx.match["regex"]), "complex", "")

    @r.message(Regex(SOLVE))
    async def solving(msg: Incoming, ctx: Context) -> Reply | None:
        found = _again(SOLVE, msg, ctx)
        return await _act(ctx, _number(found), "solve", found.group(3).strip())

    @r.message(Regex(VIEW))
    async def viewing(msg: Incoming, ctx: Context) -> Reply | None:
        number = str(_number(ctx.match["regex"]))
        handler = await handler_of(ctx)
        if handler is None:
            return await show_own(ctx, number)
        return await _view(ctx, handler, number)

    @r.message(Regex(PHONE))
    async def phone(msg: Incoming, ctx: Context) -> Reply | None:
        return await _phone(ctx, _number(ctx.match["regex"]))

    @r.message(Regex(STATS))
    async def stats(msg: Incoming, ctx: Context) -> Reply | None:
        return await _stats(ctx, ctx.match["regex"])

    @r.message(State(TODO), Intent("next_page"))
    async def next_page(msg: Incoming, ctx: Context) -> Reply | None:
        return await _todo(ctx, int(ctx.conversation.data.get("offset", 0)))

    @r.route(Intent("request_todo"))
    async def todo_list(msg: Incoming, ctx: Context) -> Reply | None:
        return await _todo(ctx, 0)

    return r


async def handler_of(ctx: Context) -> Handler | None:
    """Who the sender handles tickets as (bot.domain.requests.handler_for)."""
    ident = ctx.identity
    if not may(ident, Action.HANDLE_REQUESTS):
        return None
    return await read(ctx, lambda session: handler_for(session, ident))


async def _act(ctx: Context, number: str | None, verb: str, note: str, unit: str = "") -> Reply:
    handler = await handler_of(ctx)
    if handler is None and verb == "progress" and number is None:
        return await show_mine(ctx)  # a resident's 进展如何: their own tickets
    if number is None or incomplete(verb, note, unit):
        return TextReply(ctx.text(f"req_format_{verb}"))
    if handler is None:
        return TextReply(ctx.text("req_staff_only", menu_hint=ctx.hint("request_new")))
    now, rules, words = ctx.clock.now(), rules_of(ctx), say(ctx)
    ticket = number

    def done(s: Session) -> TicketView:
        return act(s, now, words, handler, ticket, verb, note=note, unit=unit, rules=rules)

    try:
        view = await ctx.db.run(done)
    except Refused as refused:
        return TextReply(
            refused_text(ctx, refused.reason, number, unit=unit, verb=ctx.text(f"req_verb_{verb}"))
        )
    return TextReply(
        ctx.text(
            f"req_done_{verb}",
            number=view.number,
            head=ticket_head(ctx, view),
            unit=view.unit_name,
            solve=when(ctx, view.solve_due),
            text=_snippet(view.text),
        )
    )


def _snippet(text: str, limit: int = SNIPPET) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _view(ctx: Context, handler: Handler, number: str) -> Reply:
    now, vault = ctx.clock.now(), ctx.services.vault
    try:
        view = await read(ctx, lambda s: ticket_for(s, now, handler, number, vault=vault))
    except Refused as refused:
        return TextReply(refused_text(ctx, refused.reason, number, verb=ctx.text("req_verb_view")))
    lines = [ticket_head(ctx, view), ctx.text("req_view_text", text=view.text)]
    if view.reporters > 1:
        lines.append(ctx.text("req_view_reporters", count=view.reporters))
    if view.phone_masked:
        lines.append(ctx.text("req_view_phone", phone=view.phone_masked, number=view.number))
    lines.append(history_text(ctx, view))
    return TextReply("\n".join(lines))


async def _phone(ctx: Context, number: str | None) -> Reply:
    if number is None:
        return TextReply(ctx.text("req_format_phone"))
    handler = await handler_of(ctx)
    if handler is None:
        return TextReply(ctx.text("req_staff_only", menu_hint=ctx.hint("request_new")))
    now, vault = ctx.clock.now(), ctx.services.vault
    try:
        phone = await ctx.db.run(lambda s: reporter_phone(s, now, handler, number, vault=vault))
    except Refused as refused:
        key = "req_phone_not_taker" if refused.reason == "not_yours" else f"req_refused_{refused.reason}"
        return TextReply(ctx.text(key, number=number))
    if not phone:
        return TextReply(ctx.text("req_phone_none", number=number))
    return TextReply(ctx.text("req_phone_shown", number=number, phone=phone))


async def _todo(ctx: Context, offset: int) -> Reply:
    handler = await handler_of(ctx)
    if handler is None:
        return TextReply(ctx.text("req_staff_only", menu_hint=ctx.hint("request_new")))
    now, vault = ctx.clock.now(), ctx.services.vault
    views, total = await read(ctx, lambda s: todo(s, now, handler, offset, PAGE, vault=vault))
    if total == 0:
        ctx.conversation.clear()
        return TextReply(ctx.text("req_todo_none"))
    if not views:
        ctx.conversation.clear()
        return TextReply(ctx.text("req_todo_end", total=total))
    lines = [ctx.text("req_todo_head", total=total, first=offset + 1, last=offset + len(views))]
    for i, view in enumerate(views, offset + 1):
        item = _todo_item(ctx, i, view)
        if len("\n".join([*lines, item]).encode()) > PAGE_BYTES and len(lines) > 1:
            views = views[: i - offset - 1]
            break
        lines.append(item)
    shown = offset + len(views)
    if shown < total:
        ctx.enter(TODO, offset=shown)
        lines.append(ctx.text("req_todo_more", left=total - shown))
    else:
        ctx.conversation.clear()
    lines.append(ctx.text("req_todo_foot", number=views[0].number))
    return TextReply("\n".join(lines))


def _todo_item(ctx: Context, i: int, view: TicketView) -> str:
    phone = ctx.text("req_todo_phone", phone=view.phone_masked) if view.phone_masked else ""
    taken = ctx.text("req_todo_taken", who=taker(ctx, view)) if view.taken_by else ""
    return ctx.text(
        "req_todo_item",
        i=i,
        head=ticket_head(ctx, view),
        text=_snippet(view.text),
        filed=when(ctx, view.filed_at),
        state=state_label(ctx, view.state),
        taken=taken,
        phone=phone,
        reporters=ctx.text("req_todo_reporters", count=view.reporters) if view.reporters > 1 else "",
    )


# --- 诉求统计 ----------------------------------------------------------------------------------------------


def _month(ctx: Context, found: re.Match[str]) -> str | None:
    """The month asked for: `2026-11`, `2026年11月`, `11月` (this year), `上月`; none: this month."""
    today = ctx.clock.now().astimezone(ZoneInfo(ctx.settings.timezone)).date()
    year, month = today.year, today.month
    if found.group(3) == "上月":
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    elif found.group(2):
        month = int(found.group(2))
        year = int(found.group(1)) if found.group(1) else year
    if not 1 <= month <= 12:
        return None
    return f"{year:04d}-{month:02d}"


def _percent(ctx: Context, part: int, whole: int) -> str:
    if not whole:
        return ctx.text("req_stats_none")
    return ctx.text("req_stats_rate", rate=round(100 * part / whole), part=part, whole=whole)


def _stats_line(ctx: Context, row: Rates, name: str) -> str:
    return ctx.text(
        "req_stats_line",
        name=name,
        tickets=row.tickets,
        responded=_percent(ctx, row.responded, row.tickets),
        solved=_percent(ctx, row.solved, row.tickets),
        satisfied=_percent(ctx, row.satisfied, row.rated),
        unrated=ctx.text("req_stats_unrated", count=row.unrated_closed) if row.unrated_closed else "",
    )


async def _stats(ctx: Context, found: re.Match[str]) -> Reply:
    where = scope(ctx.identity, Action.REQUEST_STATS)
    if where is None:
        return TextReply(ctx.text("req_stats_refused"))
    month = _month(ctx, found)
    if month is None:
        return TextReply(ctx.text("req_stats_format"))
    rows = await read(ctx, lambda s: rates(s, month, where))
    year, number = (int(part) for part in month.split("-"))
    head, *below = rows
    label = ctx.text("month_label", year=year, month=number)
    lines = [
        ctx.text("req_stats_head", month=label, unit=head.unit_name),
        _stats_line(ctx, head, ctx.text("req_stats_total")),
    ]
    lines += [_stats_line(ctx, row, row.unit_name) for row in below if row.tickets]
    lines.append(ctx.text("req_stats_foot"))
    return TextReply("\n".join(lines))
