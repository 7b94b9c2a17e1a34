"""党员建议 in chat. A bound member: `建议 小区增设充电桩` (or `提建议 …`, `我建议 …`; a bare `建议` or the
menu item asks for the text), `我的建议`. A secretary: `答复 S20261201-0003 已向物业反映`, `待答复建议`
(paged with 下一页). Anyone else who sends `建议 …` is pointed to `反映` for a problem.

Conversations: `suggestion_text` (waiting for the text), `suggestion_open` (the page of 待答复建议 shown)."""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.domain.policy import Action, may, scope
from bot.domain.suggestions import (
    ANSWER_LIMITS,
    ANSWERED,
    TEXT_LIMITS,
    OpenPage,
    Refused,
    SuggestionView,
    answer,
    by_number,
    count_mine,
    mine,
    open_for,
    parse_number,
    submit,
)
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import FilterResult, Intent, Router, State
from bot.wechat.wire import Incoming

TEXT = "suggestion_text"
OPEN_LIST = "suggestion_open"
PAGE_SIZE = 5
MINE_SHOWN = 10
# The command words, as written (full-width spaces and punctuation included).
COMMAND = re.compile(r"^\s*(?:我要提建议|提建议|我建议|建议)[\s:：,，、]*")
ANSWER_COMMAND = re.compile(r"^\s*答复[\s:：,，]*")
ANSWER_NUMBER = re.compile(r"([SsＳｓ][0-9０-９]{8}[-－]?[0-9０-９]{1,4})[\s:：,，]*")
_WIDE = str.maketrans("Ｓｓ０１２３４５６７８９－", "Ss0123456789-")


def step_router() -> Router:
    """The conversation's steps, early in the route order: the text of a suggestion may well name another
    capability (主题党日, 学习, 积分), and 下一页 of 待答复建议."""
    r = Router("suggestions_steps")

    @r.message(State(TEXT), Intent("my_suggestions", "open_suggestions"))
    async def elsewhere(msg: Incoming, ctx: Context) -> Reply | None:
        ctx.conversation.clear()
        if ctx.intent == "my_suggestions":
            return await _mine(ctx)
        return await _open(ctx, page=1)

    @r.message(State(TEXT))
    async def text_step(msg: Incoming, ctx: Context) -> Reply | None:
        text = COMMAND.sub("", (msg.raw_text or msg.text), count=1).strip()
        if msg.kind not in ("text", "voice") or not text:
            return TextReply(ctx.text("suggestion_ask"))
        return await _submit(ctx, text)

    @r.message(State(OPEN_LIST), Intent("next_page"))
    async def open_next(msg: Incoming, ctx: Context) -> Reply | None:
        return await _open(ctx, page=int(ctx.conversation.data.get("page", 1)) + 1)

    return r


def router() -> Router:
    """The commands, after the other capabilities: a conversation of theirs waiting for free text (an
    announcement's body may well begin with 建议 or 答复) takes it first."""
    r = Router("suggestions")

    @r.route(Intent("suggestion"), _suggesting)
    async def start(msg: Incoming, ctx: Context) -> Reply | None:
        text = str(ctx.match.get("suggestion", ""))
        if not may(ctx.identity, Action.SUGGEST) or ctx.identity.member_id is None:
            return TextReply(ctx.text("suggestion_not_member"))
        if not text:
            ctx.enter(TEXT)
            return TextReply(ctx.text("suggestion_ask"))
        return await _submit(ctx, text)

    @r.message(Intent("suggestion_answer"))
    async def answering(msg: Incoming, ctx: Context) -> Reply | None:
        return await _answer(msg, ctx)

    @r.route(Intent("my_suggestions"))
    async def listing(msg: Incoming, ctx: Context) -> Reply | None:
        return await _mine(ctx)

    @r.route(Intent("open_suggestions"))
    async def open_list(msg: Incoming, ctx: Context) -> Reply | None:
        return await _open(ctx, page=1)

    return r


# --- filters -----------------------------------------------------------------------------------------


def _suggesting(msg: Incoming, ctx: Context) -> FilterResult:
    """`建议`, the menu item, or `建议 内容`: the text after the command word, as written."""
    text = ""
    if not msg.is_event and ctx.number is None:
        text = COMMAND.sub("", (msg.raw_text or msg.text), count=1).strip()
    return {"suggestion": text}


# --- helpers -----------------------------------------------------------------------------------------


def _zone(ctx: Context) -> ZoneInfo:
    return ZoneInfo(ctx.settings.timezone)


def _date(ctx: Context, when: datetime) -> str:
    local = when.astimezone(_zone(ctx))
    return ctx.text("suggestion_date", month=local.month, day=local.day)


# --- a member's suggestion ---------------------------------------------------------------------------


async def _submit(ctx: Context, text: str) -> Reply:
    member_id = ctx.identity.member_id
    if member_id is None:
        ctx.conversation.clear()
        return TextReply(ctx.text("suggestion_not_member"))
    low, high = TEXT_LIMITS
    if not low <= len(text) <= high:
        ctx.enter(TEXT)
        return TextReply(ctx.text("suggestion_text_bad", low=low, high=high))
    now, zone, say = ctx.clock.now(), _zone(ctx), ctx.text
    try:
        done = await ctx.db.run(partial(submit, now=now, member_id=member_id, text=text, say=say, zone=zone))
    except Refused:
        ctx.conversation.clear()
        return TextReply(ctx.text("suggestion_not_member"))
    ctx.conversation.clear()
    return TextReply(ctx.text("suggestion_received", number=done.number, branch=done.branch_name))


async def _mine(ctx: Context) -> Reply:
    member_id = ctx.identity.member_id
    if member_id is None:
        return TextReply(ctx.text("suggestion_not_member"))

    def read(session: Session) -> tuple[list[SuggestionView], int]:
        return mine(session, member_id, MINE_SHOWN), count_mine(session, member_id)

    async with ctx.db.read() as session:
        items, count = await session.run_sync(read)
    if not items:
        return TextReply(ctx.text("suggestion_mine_none"))
    if count > len(items):
        lines = [ctx.text("suggestion_mine_head_recent", count=count, shown=len(items))]
    else:
        lines = [ctx.text("suggestion_mine_head", count=count)]
    for i, item in enumerate(items, 1):
        if item.status == ANSWERED and item.answered_at is not None:
            status = ctx.text(
                "suggestion_status_answered", date=_date(ctx, item.answered_at), answer=item.answer or ""
            )
        else:
            status = ctx.text("suggestion_status_open")
        lines.append(
            ctx.text(
                "suggestion_mine_item",
                i=i,
                number=item.number,
                date=_date(ctx, item.created_at),
                text=item.text,
                status=status,
            )
        )
    return TextReply("\n".join(lines))


# --- a secretary's answer and list -------------------------------------------------------------------


async def _answer(msg: Incoming, ctx: Context) -> Reply:
    if not may(ctx.identity, Action.ANSWER_SUGGESTIONS):
        return TextReply(ctx.text("suggestion_secretary_only"))
    rest = ANSWER_COMMAND.sub("", msg.raw_text or msg.text, count=1)
    found = ANSWER_NUMBER.match(rest)
    number = parse_number(found.group(1).translate(_WIDE)) if found else None
    if found is None or number is None:
        return TextReply(ctx.text("suggestion_answer_format"))
    text = rest[found.end() :].strip()
    low, high = ANSWER_LIMITS
    if not low <= len(text) <= high:
        return TextReply(ctx.text("suggestion_answer_bad", low=low, high=high, number=number))
    now, identity, say = ctx.clock.now(), ctx.identity, ctx.text
    try:
        done = await ctx.db.run(
            partial(answer, now=now, identity=identity, number=number, text=text, say=say)
        )
    except Refused as refused:
        return TextReply(await _refusal(ctx, refused.reason, number))
    return TextReply(ctx.text("suggestion_answered", name=done.member_name, number=done.number))


async def _refusal(ctx: Context, reason: str, number: str) -> str:
    if reason == "answered":
        async with ctx.db.read() as session:
            item = await session.run_sync(lambda s: by_number(s, number))
        if item is not None and item.answered_at is not None:
            return ctx.text(
                "suggestion_already",
                number=number,
                date=_date(ctx, item.answered_at),
                answer=item.answer or "",
            )
    if reason in ("not_yours", "own"):
        return ctx.text(f"suggestion_{reason}", number=number)
    return ctx.text("suggestion_not_found", number=number)


async def _open(ctx: Context, page: int) -> Reply:
    where = scope(ctx.identity, Action.ANSWER_SUGGESTIONS)
    if where is None:
        ctx.conversation.clear()
        return TextReply(ctx.text("suggestion_secretary_only"))
    page = max(page, 1)

    def read(session: Session) -> OpenPage:
        found = open_for(session, where, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        if not found.items and found.total:
            return open_for(session, where, max(0, (found.total - 1) // PAGE_SIZE) * PAGE_SIZE, PAGE_SIZE)
        return found

    async with ctx.db.read() as session:
        found = await session.run_sync(read)
    if not found.total:
        ctx.conversation.clear()
        return TextReply(ctx.text("suggestion_open_none"))
    pages = (found.total + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(page, pages)
    lines = [ctx.text("suggestion_open_head", total=found.total, page=page, pages=pages)]
    for i, item in enumerate(found.items, (page - 1) * PAGE_SIZE + 1):
        lines.append(
            ctx.text(
                "suggestion_open_item",
                i=i,
                number=item.number,
                name=item.member_name,
                branch=item.branch_name,
                date=_date(ctx, item.created_at),
                text=item.text,
            )
        )
    lines.append(ctx.text("suggestion_open_foot"))
    if page < pages:
        ctx.enter(OPEN_LIST, page=page)
        lines.append(ctx.text("answers_more"))
    else:
        ctx.conversation.clear()
    return TextReply("\n".join(lines))
