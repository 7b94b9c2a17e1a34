"""Last in the tree: never silent. Unknown text gets the menu; other kinds say what partybot takes."""

from __future__ import annotations

from sqlalchemy import select

from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Kind, Number, Router
from bot.outbound.notices import secretaries_for
from bot.outbound.voice_messages import alert_secretaries
from bot.voice.speech import MAX_CLIP_BYTES, amr_duration
from bot.wechat.wire import Incoming
from models import Member


def router() -> Router:
    r = Router("fallback")

    @r.message(Number())
    async def unknown_number(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("menu_number_unknown", number=ctx.match["number"], menu=ctx.menu()))

    @r.message(Kind("text"))
    async def unknown_text(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("unknown_text", menu=ctx.menu()))

    @r.message(Kind("voice"))
    async def voice(msg: Incoming, ctx: Context) -> Reply | None:
        if msg.text:
            return TextReply(ctx.text("unknown_text", menu=ctx.menu()))
        # Not understood (WeChat's recognition is being retired; no recogniser or it heard nothing): the
        # menu, and a member's secretary hears that a voice message waits — with the audio itself when the
        # member consented to keeping it (PIPL: separate consent; kept PARTYBOT_VOICE_RETENTION_DAYS).
        if ctx.identity.member_id is not None and ctx.identity.name:
            return await voice_for_secretary(msg, ctx, ctx.identity.member_id, ctx.identity.name)
        return TextReply(ctx.text("voice_unrecognised", menu=ctx.menu()))

    @r.message(Kind("location"))
    async def location(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("location_received", menu=ctx.menu()))

    @r.event()
    async def unused_event(msg: Incoming, ctx: Context) -> Reply | None:
        # SCAN (binding by QR comes with the members issue), VIEW, LOCATION reports, *JOBFINISH
        # (the outbound engine), clicks on keys nobody handles, and anything WeChat adds: `success`.
        return None

    @r.message()
    async def other_kind(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("unsupported_kind", kind=ctx.content.kind_name(msg.kind), menu=ctx.menu()))

    return r


async def voice_for_secretary(msg: Incoming, ctx: Context, member_id: int, name: str) -> Reply:
    secretaries = await ctx.db.run(lambda session: secretaries_for(session, member_id))
    if not secretaries:
        return TextReply(ctx.text("voice_unrecognised", menu=ctx.menu()))
    days = ctx.settings.voice_retention_days
    async with ctx.db.read() as session:
        consent = await session.scalar(select(Member.voice_keep_consent).where(Member.id == member_id))
    audio: list[tuple[bytes, float]] = []
    if days and consent:
        data = ctx.voice_audio
        if data is None:
            data = await ctx.services.download_voice(msg.media_id, msg.dedupe_key)
        if data is not None and len(data) <= MAX_CLIP_BYTES:
            try:
                seconds = amr_duration(data)
            except ValueError:
                seconds = 0.0
            audio.append((data, seconds))

    def alert(count: int, kept: int) -> str:
        if count == 1:
            return ctx.text("voice_waiting_notice_audio" if kept else "voice_waiting_notice", name=name)
        if kept:
            return ctx.text("voice_waiting_notices_audio", name=name, count=count, kept=kept)
        return ctx.text("voice_waiting_notices", name=name, count=count)

    # One alert per member while it waits: a second voice message updates it ("发来2条语音留言").
    now = ctx.clock.now()
    await ctx.db.run(
        lambda session: alert_secretaries(
            session,
            now,
            key=f"voice:{msg.dedupe_key}",
            member_id=member_id,
            secretaries=secretaries,
            audio=audio,
            text=alert,
        )
    )
    answer = ctx.text("voice_unrecognised_member", menu=ctx.menu())
    if days and consent is None:
        answer = ctx.text("voice_keep_ask", days=days) + "\n" + answer
    return TextReply(answer)
