"""A person's own record (我的信息, own phone unmasked: a roster member, a grid worker, an in-service member
confirmed through 双报到) and a member's preferences (语音模式 开/关)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.members import own_record
from bot.domain.policy import Action, may
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply, VoiceReply
from bot.edge.router import Intent, Regex, Router
from bot.outbound.waiting import next_clip
from bot.wechat.wire import Incoming
from models import DualReport, Member, OrgUnit, Staff


def router() -> Router:
    r = Router("member")

    @r.route(Intent("my_info"))
    async def my_info(msg: Incoming, ctx: Context) -> Reply | None:
        if ctx.identity.member_id is None:
            if ctx.identity.dual_report_id is not None:
                return await dual_info(ctx, ctx.identity.dual_report_id)
            if ctx.identity.staff_id is not None:
                return await staff_info(ctx, ctx.identity.staff_id)
        member_id, vault, year = ctx.identity.member_id, ctx.services.vault, ctx.clock.now().year
        if not may(ctx.identity, Action.VIEW_OWN_RECORD) or member_id is None:
            return not_member(ctx)
        record = await ctx.db.lookup(lambda connection: own_record(connection, member_id, vault, year))
        if record is None:
            return not_member(ctx)
        none, unregistered = ctx.text("none_text"), ctx.text("phone_unregistered")
        helper = none
        if record.helper_name is not None:
            helper = f"{record.helper_name} {record.helper_phone or unregistered}"
        return TextReply(
            ctx.text(
                "my_info",
                name=record.name,
                unit=short_path(record.unit_path),
                status=record.status,
                kind=record.kind,
                post=ctx.text("post_label", post=record.post) if record.post else "",
                phone=record.phone or unregistered,  # their own: unmasked
                address=" ".join(p for p in (record.building, record.door) if p) or none,
                posts="、".join(record.volunteer_posts) or none,
                voice=ctx.text("voice_label_on" if record.voice else "voice_label_off"),
                helper=helper,
            )
        )

    @r.message(Regex(r"语音(?:模式|通知)?\s*(开|开启|打开|关|关闭)?"))
    async def voice_mode(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.SET_OWN_PREFERENCES) or ctx.identity.member_id is None:
            return not_member(ctx)
        choice = ctx.match["regex"].group(1)
        if choice is None:
            return TextReply(ctx.text("voice_format"))
        on = choice in ("开", "开启", "打开")
        member_id = ctx.identity.member_id

        def save(session: Session) -> None:
            member = session.get(Member, member_id)
            if member is not None:
                member.voice_mode = on
                # The member's own choice: a roster re-import must not overwrite it.
                member.chat_preferences = sorted({*member.chat_preferences, "voice_mode"})
                member.updated_at = ctx.clock.now()

        await ctx.db.run(save)
        return TextReply(ctx.text("voice_on" if on else "voice_off"))

    @r.route(Intent("listen"))
    async def listen(msg: Incoming, ctx: Context) -> Reply | None:
        voice = ctx.services.notice_voice
        media_id = await next_clip(ctx.db, voice, ctx.openid, ctx.clock.now()) if voice else None
        if media_id is None:
            return TextReply(ctx.text("voice_listen_none"))
        return VoiceReply(media_id)

    @r.message(Regex(r"(同意保存语音|不保存语音|不同意保存语音)"))
    async def voice_keep(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.SET_OWN_PREFERENCES) or ctx.identity.member_id is None:
            return not_member(ctx)
        keep = ctx.match["regex"].group(1) == "同意保存语音"
        member_id = ctx.identity.member_id

        def save(session: Session) -> None:
            member = session.get(Member, member_id)
            if member is not None:
                member.voice_keep_consent = keep
                member.updated_at = ctx.clock.now()

        await ctx.db.run(save)
        return TextReply(
            ctx.text("voice_keep_on" if keep else "voice_keep_off", days=ctx.settings.voice_retention_days)
        )

    return r


def not_member(ctx: Context) -> Reply:
    """For someone who is not on the community's roster: how to bind — or, for an in-service member
    confirmed through 双报到 (a member, but not on this roster), that this is for roster members."""
    if ctx.identity.is_member:
        return TextReply(ctx.text("roster_only"))
    return TextReply(ctx.text("not_member", hint=ctx.hint("bind")))


def short_path(path: str) -> str:
    """A unit path without its top level (the street), as members know it."""
    return path.split("/", 1)[-1] if "/" in path else path


async def staff_info(ctx: Context, staff_id: int) -> Reply:
    """A grid worker's own record: their grid, the buildings it covers, their own phone (unmasked)."""
    async with ctx.db.read() as session:
        row = (
            await session.execute(
                select(Staff, OrgUnit).join(OrgUnit, Staff.unit_id == OrgUnit.id).where(Staff.id == staff_id)
            )
        ).first()
    if row is None:
        return not_member(ctx)
    staff, unit = row[0], row[1]
    vault = ctx.services.vault
    phone = vault.decrypt_phone(staff.phone_enc) if vault else None
    return TextReply(
        ctx.text(
            "staff_info",
            name=staff.name,
            role=staff.role,
            unit=short_path(unit.path),
            phone=phone or ctx.text("phone_unregistered"),
            buildings="、".join(unit.buildings) or ctx.text("none_text"),
        )
    )


async def dual_info(ctx: Context, report_id: int) -> Reply:
    """An in-service member's 双报到 registration, as they gave it (their own phone unmasked)."""
    async with ctx.db.read() as session:
        report = await session.get(DualReport, report_id)
    if report is None:
        return not_member(ctx)
    vault = ctx.services.vault
    phone = vault.decrypt_phone(report.phone_enc) if vault else None
    return TextReply(
        ctx.text(
            "dual_info",
            name=report.name,
            org=report.workplace_org,
            phone=phone or ctx.text("phone_unregistered"),
            address=f"{report.building}{report.door}",
            posts="、".join(report.volunteer_posts) or ctx.text("no_posts_chosen"),
        )
    )
