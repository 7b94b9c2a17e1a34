"""公告: a secretary (or a group leader, for their group) announces to their part of the tree. A preview
says to whom, how many, how many get voice and how many are not bound (a helper relays); `确认` queues one
outbox row per member (bot.outbound.notices), `取消` drops it. `公告状态` says what became of recent
announcements; `已转告 姓名` is a helper confirming they passed a notice on."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.policy import Action, may, scope
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Regex, Role, Router, State
from bot.outbound.notices import (
    Audience,
    AudienceKind,
    NoticeReport,
    Preview,
    child_units,
    confirm_relay,
    enqueue_announcement,
    kind_label,
    notice_body,
    preview,
    preview_notes,
    recent_notices,
    report,
    unit_name,
)
from bot.outbound.sizes import MAX_CHARS, MAX_PARTS, split_text
from bot.wechat.account import Capability, allowed
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
    if not may(ctx.identity, Action.BROADCAST):
        return None
    return scope(ctx.identity, Action.BROADCAST)


async def start(ctx: Context, body: str) -> Reply:
    where = _scope(ctx)
    if where is None:
        return TextReply(ctx.text("announce_refused"))
    if not body:
        ctx.enter("announce", step="text")
        return TextReply(ctx.text("announce_ask_text"))
    if len(split_text(await _full_text(ctx, where, body))) > MAX_PARTS:
        ctx.enter("announce", step="text")
        return TextReply(ctx.text("announce_too_long", length=len(body), limit=MAX_CHARS))
    units = await child_units(ctx.db, where)
    options: list[list[str]] = [["unit", where]]
    options += [["unit", path] for path, _ in units]
    options += [
        ["kind", k.value] for k in (AudienceKind.IN_SERVICE, AudienceKind.ELDERLY, AudienceKind.MOBILE)
    ]
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
    """The notice as members read it: 【source通知】 and the body."""
    async with ctx.db.read() as session:
        source = await unit_name(session, where, ctx.content)
    return ctx.text("notice_push", source=source, text=body)


async def _preview(ctx: Context, data: dict[str, Any]) -> Preview:
    where = _scope(ctx) or ""
    audience = Audience(str(data["unit"]), AudienceKind(str(data["kind"])))
    text = await _full_text(ctx, where, str(data["text"]))
    return await preview(
        ctx.db, ctx.content, audience, ctx.clock.now(), ctx.settings, text=text, sender=ctx.identity.member_id
    )


async def show_preview(ctx: Context) -> Reply:
    data: dict[str, Any] = ctx.conversation.data
    found = await _preview(ctx, data)
    ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, **data)
    labels = await _option_labels(ctx, list(data["options"]))
    if not found.recipients:
        return TextReply(ctx.text("announce_empty_audience", label=found.label) + "\n" + "\n".join(labels))
    passive = not allowed(ctx.settings.wechat_account, Capability.CUSTOMER_SERVICE)
    unbound = ctx.text("announce_unbound_part", unbound=found.unbound) if found.unbound else ""
    notes = preview_notes(ctx.content, found)
    return TextReply(
        ctx.text(
            "announce_preview",
            label=found.label,
            total=found.total,
            sender_part=ctx.text("announce_sender_part") if found.sender_included else "",
            voice=0 if passive else found.voice,
            unbound_part=unbound,
            channels=ctx.text("announce_channels_passive" if passive else "announce_channels_verified"),
            notes="".join("\n" + note for note in notes),
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
        author=f"member:{ctx.identity.member_number}"
        if ctx.identity.member_number
        else f"openid:{ctx.openid}",
        author_openid=ctx.openid,
        recipients=found.recipients,
    )
    ctx.conversation.clear()
    sender = ctx.text("announce_sent_sender_part") if found.sender_included else ""
    return TextReply(ctx.text("announce_sent", total=len(found.recipients), sender_part=sender))


def _title(text: str) -> str:
    body = notice_body(text).replace("\n", " ")
    return body if len(body) <= 12 else body[:12] + "…"


def _reason(ctx: Context, key: str) -> str:
    """A failure reason in words (content/texts.yaml failure_*), from the key its row stored."""
    return ctx.text(f"failure_{key}" if f"failure_{key}" in ctx.content.texts else "failure_other")


def render_report(ctx: Context, item: NoticeReport) -> str:
    notice = item.notice
    when = notice.created_at.astimezone(ZoneInfo(ctx.settings.timezone))
    by_channel = "，".join(f"{ctx.text('channel_' + c)} {n}" for c, n in item.by_channel.most_common() if c)
    names = "，".join(
        ctx.text(
            "announce_relay_name",
            member=member,
            helper=helper,
            state=ctx.text("relay_state_done" if done else "relay_state_pending"),
        )
        for member, helper, done in item.relayed[:5]
    )
    reasons: Counter[str] = Counter()
    for key, n in item.failed.items():
        reasons[_reason(ctx, key)] += n
    failed_reasons = "，".join(f"{reason} {n}" for reason, n in reasons.most_common(3))
    return ctx.text(
        "announce_status_item",
        title=_title(notice.text),
        when=ctx.text("announce_when", month=when.month, day=when.day, time=f"{when:%H:%M}"),
        total=notice.recipients,
        sent=item.sent,
        by_channel=f"（{by_channel}）" if by_channel else "",
        waiting=item.waiting,
        relayed=len(item.relayed),
        relay_names=f"：{names}" if names else "",
        failed=sum(item.failed.values()),
        failed_reasons=f"（{failed_reasons}）" if failed_reasons else "",
        in_doubt=item.in_doubt,
        pending_part=ctx.text("announce_pending_part", pending=item.pending) if item.pending else "",
    )


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
