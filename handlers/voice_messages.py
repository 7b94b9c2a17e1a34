"""听留言: a secretary listens to the voice messages a member of their unit sent that nobody understood,
kept with the member's consent (PARTYBOT_VOICE_RETENTION_DAYS). One clip per passive voice reply; the next
`听留言 王秀兰` (or a bare `听留言`) plays the next one. Only members in the secretary's scope; every play
is audited (bot.outbound.voice_messages)."""

from __future__ import annotations

import re

from bot.domain import audit
from bot.domain.policy import Action, scope
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply, VoiceReply
from bot.edge.router import Regex, Router
from bot.outbound.voice_messages import Outcome, Speaker, last_listened, play_next, speakers
from bot.wechat.wire import Incoming

LISTEN = re.compile(r"^\s*(?:听留言|收听留言|听语音留言)\s*(\S*)\s*$")


def router() -> Router:
    r = Router("voice_messages")

    @r.message(Regex(LISTEN))
    async def listen(msg: Incoming, ctx: Context) -> Reply | None:
        where = scope(ctx.identity, Action.LISTEN_VOICE_MESSAGES)
        if where is None:
            return TextReply(ctx.text("voice_messages_refused"))
        raw = LISTEN.fullmatch(msg.raw_text or "")  # as written: member numbers keep their case
        name = (raw or ctx.match["regex"]).group(1).strip("。．.，,！!？?") or None
        found = await _who(ctx, where, name)
        if isinstance(found, str):
            return TextReply(found)
        return await _play(ctx, found)

    return r


def _actor(ctx: Context) -> str:
    return audit.actor_for(openid=ctx.openid, member_number=ctx.identity.member_number)


async def _who(ctx: Context, where: str, name: str | None) -> Speaker | str:
    """The member to listen to, or what to say instead."""
    now, days = ctx.clock.now(), ctx.settings.voice_retention_days
    async with ctx.db.read() as session:
        if name is not None:
            named = await speakers(session, where, now, days, name)
            if not named:
                return ctx.text("voice_messages_nobody", name=name)
            if len(named) == 1:
                return named[0]
            with_kept = [s for s in named if s.kept]
            if len(with_kept) == 1:
                return with_kept[0]
            return _pick(ctx, with_kept or named, name)
        waiting = await speakers(session, where, now, days)
        last = await last_listened(session, _actor(ctx), now, days)
    again = [s for s in waiting if s.member_id == last]
    if again:
        return again[0]
    if len(waiting) == 1:
        return waiting[0]
    if not waiting:
        return ctx.text("voice_messages_none_in_scope")
    lines = "、".join(ctx.text("voice_messages_line", name=s.name, kept=s.kept) for s in waiting)
    return ctx.text("voice_messages_which", lines=lines, example=waiting[0].name)


def _pick(ctx: Context, found: list[Speaker], name: str) -> str:
    lines = "\n".join(
        ctx.text("voice_messages_pick_line", name=s.name, number=s.number, unit=s.unit, kept=s.kept)
        for s in found
    )
    return ctx.text("voice_messages_pick", count=len(found), name=name, lines=lines, number=found[0].number)


async def _play(ctx: Context, speaker: Speaker) -> Reply:
    voice = ctx.services.notice_voice
    days = ctx.settings.voice_retention_days
    if voice is None:
        return TextReply(ctx.text("voice_messages_unavailable", name=speaker.name))
    played = await play_next(
        ctx.db, voice, speaker=speaker, actor=_actor(ctx), now=ctx.clock.now(), days=days
    )
    if played.outcome is Outcome.PLAY and played.media_id is not None:
        return VoiceReply(played.media_id)
    key = {
        Outcome.DONE: "voice_messages_done",
        Outcome.NONE: "voice_messages_never",
        Outcome.NOT_KEPT: "voice_messages_not_kept",
        Outcome.EXPIRED: "voice_messages_expired",
    }.get(played.outcome, "voice_messages_unavailable")
    return TextReply(ctx.text(key, name=speaker.name, total=played.total, days=days))
