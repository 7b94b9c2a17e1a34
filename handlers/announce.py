"""公告: a secretary (or a group leader, for their group) announces to their part of the tree. A preview
says to whom, how many, how many get voice and how many are not bound (a helper relays); `确认` queues one
outbox row per member (bot.outbound.notices), `取消` drops it. `公告状态` says what became of recent
announcements; `已转告 姓名` is a helper confirming they passed a notice on."""

from __future__ import annotations

import re
from typing import Any

from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Regex, Role, Router, State
from bot.outbound.announcements import (
    NARROWING,
    TextProblem,
    announcement_preview,
    author_of,
    broadcast_scope,
    full_text,
    preview_words,
    recent_notices,
    status_words,
    text_problem,
    too_long_words,
    unit_choices,
)
from bot.outbound.notices import (
    Audience,
    AudienceKind,
    NoticeReport,
    Preview,
    confirm_relay,
    enqueue_announcement,
    kind_label,
    report,
    unit_name,
)
from bot.wechat.wire import Incoming

COMMAND = re.compile(r"^\s*(?:发布公告|发公告|发布通知|发通知|公告)\s*[:：]?\s*", re.S)
CONFIRM = frozenset({"确认", "确定", "发送", "确认发送", "是", "好"})


def router() -> Router:
    r = Router("announce", numbered=("announce",))
    senders = Role("secretary", "admin", "group_leader")

    @r.route(senders, Intent("announce_status"))
    async def status(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(await status_text(ctx))

    @r.message(
        senders, Regex(re.compile(r"(?:发布公告|发公告|发布通知|发通知|公告)\s*[:：]?\s*(?!状态)(.+)", re.S))
    )
    async def with_text(msg: Incoming, ctx: Context) -> Reply | None:
        body = COMMAND.sub("", msg.raw_text or msg.text, count=1).strip()
        return await start(ctx, body)

    @r.route(senders, Intent("announce"))
    async def ask(msg: Incoming, ctx: Context) -> Reply | None:
        ctx.enter("announce", step="text")
        return TextReply(ctx.text("announce_ask_text"))

    @r.message(State("announce"))
    async def step(msg: Incoming, ctx: Context) -> Reply | None:
        data = ctx.conversation.data
        if data.get("step") == "text":
            body = (msg.raw_text or msg.text).strip()
            return await start(ctx, body)
        if msg.text in CONFIRM:
            return await send(ctx)
        options = list(data.get("options", []))
        if ctx.number is not None and 1 <= ctx.number <= len(options):
            kind, value = options[ctx.number - 1]
            if kind == "unit":
                data["unit"] = value
            else:
                data["kind"] = value
            return await show_preview(ctx)
        return await show_preview(ctx)

    @r.route(Intent("announce", "announce_status"))
    @r.message(Regex(re.compile(r"(?:发布公告|发公告|发布通知|发通知|公告)\s*[:：]?.*", re.S)))
    async def refused(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("announce_refused"))

    @r.message(Role("member"), Regex(r"已转告\s*(\S*)"))
    async def relayed(msg: Incoming, ctx: Context) -> Reply | None:
        name = ctx.match["regex"].group(1)
        if not name:
            return TextReply(ctx.text("relay_format"))
        assert ctx.identity.member_id is not None
        done = await confirm_relay(ctx.db, ctx.identity.member_id, name, ctx.clock.now())
        return TextReply(ctx.text("relay_done" if done else "relay_none", name=name))

    return r


def _scope(ctx: Context) -> str | None:
    return broadcast_scope(ctx.identity)


async def start(ctx: Context, body: str) -> Reply:
    where = _scope(ctx)
    if where is None:
        return TextReply(ctx.text("announce_refused"))
    problem = text_problem(body, await _full_text(ctx, where, body))
    if problem is not None:
        ctx.enter("announce", step="text")
        if problem is TextProblem.EMPTY:
            return TextReply(ctx.text("announce_ask_text"))
        return TextReply(too_long_words(ctx.content, body))
    options: list[list[str]] = [["unit", path] for path in await unit_choices(ctx.db, where)]
    options += [["kind", k.value] for k in NARROWING]
    ctx.enter("announce", step="preview", text=body, unit=where, kind=AudienceKind.ALL.value, options=options)
    return await show_preview(ctx)


async def _option_labels(ctx: Context, options: list[list[str]]) -> list[str]:
    async with ctx.db.read() as session:
        labels = []
        for i, (kind, value) in enumerate(options, 1):
            if kind == "unit":
                name = await unit_name(session, value, ctx.content)
                label = ctx.text("announce_option_all" if i == 1 else "announce_option_only", name=name)
            else:
                label = ctx.text("announce_option_only", name=kind_label(ctx.content, AudienceKind(value)))
            labels.append(ctx.text("announce_option", number=i, label=label))
    return labels


async def _full_text(ctx: Context, where: str, body: str) -> str:
    return await full_text(ctx.db, ctx.content, where, body)


async def _preview(ctx: Context, data: dict[str, Any]) -> Preview:
    audience = Audience(str(data["unit"]), AudienceKind(str(data["kind"])))
    return await announcement_preview(
        ctx.db,
        ctx.content,
        ctx.settings,
        ctx.clock.now(),
        where=_scope(ctx) or "",
        audience=audience,
        body=str(data["text"]),
        sender=ctx.identity.member_id,
    )


async def show_preview(ctx: Context) -> Reply:
    data: dict[str, Any] = ctx.conversation.data
    found = await _preview(ctx, data)
    ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, **data)
    labels = await _option_labels(ctx, list(data["options"]))
    if not found.recipients:
        return TextReply(ctx.text("announce_empty_audience", label=found.label) + "\n" + "\n".join(labels))
    words = preview_words(ctx.content, ctx.settings, found)
    return TextReply(
        ctx.text(
            "announce_preview",
            summary=words.summary,
            channels=words.channels,
            notes="".join("\n" + note for note in words.notes),
            options="\n".join(labels),
        )
    )


async def send(ctx: Context) -> Reply:
    data = dict(ctx.conversation.data)
    where = _scope(ctx)
    if where is None:
        ctx.conversation.clear()
        return TextReply(ctx.text("announce_refused"))
    audience = Audience(str(data["unit"]), AudienceKind(str(data["kind"])))
    now = ctx.clock.now()
    found = await _preview(ctx, data)
    if not found.recipients:
        return TextReply(ctx.text("announce_empty_audience", label=found.label))
    await enqueue_announcement(
        ctx.db,
        now,
        text=await _full_text(ctx, where, str(data["text"])),
        audience=audience,
        label=found.label,
        author=author_of(ctx.identity, f"openid:{ctx.openid}"),
        author_openid=ctx.openid,
        recipients=found.recipients,
    )
    ctx.conversation.clear()
    sender = ctx.text("announce_sent_sender_part") if found.sender_included else ""
    return TextReply(ctx.text("announce_sent", total=len(found.recipients), sender_part=sender))


def render_report(ctx: Context, item: NoticeReport) -> str:
    return status_words(ctx.content, item, ctx.settings.timezone)


async def status_text(ctx: Context) -> str:
    where = _scope(ctx)
    ids = await recent_notices(ctx.db, where, ctx.openid)
    parts = []
    for notice_id in ids:
        item = await report(ctx.db, notice_id)
        if item is not None:
            parts.append(render_report(ctx, item))
    if not parts:
        return ctx.text("announce_status_none")
    return "\n\n".join(parts)
