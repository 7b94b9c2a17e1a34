"""双报到: an in-service member whose membership is at their workplace registers with the community where
they live (name, phone, workplace Party organisation, building, door); the community secretary confirms;
the member picks 1–2 volunteer posts. Roster members can choose their posts the same way."""

from __future__ import annotations

import re
from importlib import resources

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import audit
from bot.domain.places import unit_for_building
from bot.domain.policy import Action, may, scope, within
from bot.domain.privacy import mask_phone, normalize_phone
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Number, Regex, Role, Router, State
from bot.outbound.notices import add_system_notice, secretaries_of_unit
from bot.wechat.wire import Incoming
from models import DualReport, Member, OrgUnit, VolunteerPost

# At the check step, words that mean "submit" as well as 1.
SUBMIT_WORDS = frozenset({"确认", "确定", "是", "是的", "对", "对的", "提交", "好", "好的", "没错", "没问题"})
STEPS = ("name", "phone", "org", "building", "door", "confirm")
LIMITS = {"name": (2, 20), "org": (2, 100), "building": (1, 20), "door": (1, 30)}
ASK = {
    "phone": "dual_ask_phone",
    "org": "dual_ask_org",
    "building": "dual_ask_building",
    "door": "dual_ask_door",
}


def router() -> Router:
    r = Router("dual_report", numbered=("dual", "posts"))

    @r.route(Role("resident"), Intent("dual_report"))
    async def start(msg: Incoming, ctx: Context) -> Reply | None:
        async with ctx.db.read() as session:
            existing = await session.scalar(select(DualReport).where(DualReport.openid == msg.openid))
        if existing is not None:
            return TextReply(ctx.text("dual_already", status=ctx.text(f"dual_status_{existing.status}")))
        ctx.enter("dual", step="name")
        return TextReply(ctx.text("dual_start"))

    @r.message(State("dual"))
    async def step(msg: Incoming, ctx: Context) -> Reply | None:
        data = dict(ctx.conversation.data)
        current = str(data["step"])
        text = (msg.raw_text or msg.text).strip()
        if current == "confirm":
            if ctx.number != 1 and msg.text not in SUBMIT_WORDS:
                return TextReply(confirm_text(ctx, data))
            return await submit(ctx, data)
        if current == "phone":
            phone = normalize_phone(text)
            if phone is None:
                return TextReply(ctx.text("dual_bad_phone"))
            value = phone
        else:
            low, high = LIMITS[current]
            if not low <= len(text) <= high:
                return TextReply(ctx.text("dual_bad_text"))
            value = text
        following = STEPS[STEPS.index(current) + 1]
        data.update({current: value, "step": following})
        ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, **data)
        return TextReply(confirm_text(ctx, data) if following == "confirm" else ctx.text(ASK[following]))

    @r.route(Role("secretary", "admin"), Intent("dual_review"))
    async def review(msg: Incoming, ctx: Context) -> Reply | None:
        where = scope(ctx.identity, Action.REVIEW_DUAL_REPORTS)
        rows = [(d, path) for d, path in await reports(ctx) if within(path or "", where)]
        if not rows:
            return TextReply(ctx.text("dual_review_none"))
        vault = ctx.services.vault
        lines = []
        for i, (d, _) in enumerate(rows, 1):
            phone = mask_phone(
                vault.decrypt_phone(d.phone_enc) if vault else None, ctx.text("phone_unregistered")
            )
            posts = "、".join(d.volunteer_posts) or ctx.text("no_posts_chosen")
            status = ctx.text(f"dual_status_{d.status}")
            lines.append(f"{i}. {d.name} {phone} {d.workplace_org} {d.building}{d.door} {status} {posts}")
        now, who, numbers = ctx.clock.now(), actor(ctx), [d.id for d, _ in rows]
        await ctx.db.run(lambda s: audit.record(s, now, who, "list_dual_reports", where, reports=numbers))
        return TextReply(ctx.text("dual_review", lines="\n".join(lines)))

    @r.message(Role("secretary", "admin"), Regex(r"确认\s*(\S+)"))
    async def confirm(msg: Incoming, ctx: Context) -> Reply | None:
        where = scope(ctx.identity, Action.REVIEW_DUAL_REPORTS)
        name = ctx.match["regex"].group(1)
        pending = [
            d
            for d, path in await reports(ctx)
            if d.status == "pending" and d.name == name and within(path or "", where)
        ]
        if not pending:
            return TextReply(ctx.text("dual_confirm_none", name=name))
        report_id, now, who, openid = pending[0].id, ctx.clock.now(), actor(ctx), pending[0].openid
        confirmed_text = ctx.text("dual_confirmed_notice")

        def confirm_it(session: Session) -> None:
            report = session.get(DualReport, report_id)
            if report is not None and report.status == "pending":
                report.status, report.confirmed_by, report.confirmed_at = "confirmed", who, now
                audit.record(session, now, who, "confirm_dual_report", where, report=report_id)
                add_system_notice(
                    session, now, key=f"dual_confirmed:{report_id}", text=confirmed_text, openids=[openid]
                )

        await ctx.db.run(confirm_it)
        ctx.services.identities.invalidate(openid)
        return TextReply(ctx.text("dual_confirmed", name=name))

    @r.route(Intent("volunteer_posts"))
    async def choose_posts(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.CHOOSE_POSTS):
            pending = await own_report(ctx)
            if pending:
                return TextReply(ctx.text("posts_not_confirmed"))
            return TextReply(ctx.text("not_member", hint=ctx.hint("bind")))
        names = await post_names(ctx)
        ctx.enter("posts", names=names)
        lines = "\n".join(f"{i} {n}" for i, n in enumerate(names, 1))
        return TextReply(ctx.text("posts_list", lines=lines))

    @r.message(State("posts"), Regex(r"[\d\s,，、和]+"))
    async def posts_chosen(msg: Incoming, ctx: Context) -> Reply | None:
        names = list(ctx.conversation.data["names"])
        picks = [int(n) for n in re.findall(r"\d+", msg.text)]
        if not picks and ctx.number is not None:
            picks = [ctx.number]  # one post said as a Chinese numeral: "六"
        if not 1 <= len(set(picks)) <= 2 or not all(1 <= p <= len(names) for p in picks):
            return TextReply(ctx.text("posts_bad"))
        chosen = [names[p - 1] for p in dict.fromkeys(picks)]
        identity, now = ctx.identity, ctx.clock.now()

        def save(session: Session) -> None:
            if identity.member_id is not None:
                member = session.get(Member, identity.member_id)
                if member is not None:
                    member.volunteer_posts = chosen
                    # Chosen in chat: a roster re-import keeps it.
                    member.chat_preferences = sorted({*member.chat_preferences, "volunteer_posts"})
                    member.updated_at = now
            elif identity.dual_report_id is not None:
                report = session.get(DualReport, identity.dual_report_id)
                if report is not None:
                    report.volunteer_posts = chosen

        await ctx.db.run(save)
        ctx.conversation.clear()
        return TextReply(ctx.text("posts_saved", posts="、".join(chosen)))

    @r.message(State("posts"), Number())
    async def posts_number(msg: Incoming, ctx: Context) -> Reply | None:
        return await posts_chosen(msg, ctx)

    return r


def actor(ctx: Context) -> str:
    return audit.actor_for(openid=ctx.openid, member_number=ctx.identity.member_number)


def confirm_text(ctx: Context, data: dict[str, object]) -> str:
    return ctx.text(
        "dual_confirm",
        name=data["name"],
        phone=data["phone"],
        org=data["org"],
        building=data["building"],
        door=data["door"],
    )


async def own_report(ctx: Context) -> DualReport | None:
    async with ctx.db.read() as session:
        return await session.scalar(select(DualReport).where(DualReport.openid == ctx.openid))


async def reports(ctx: Context) -> list[tuple[DualReport, str | None]]:
    async with ctx.db.read() as session:
        rows = (
            await session.execute(
                select(DualReport, OrgUnit.path)
                .outerjoin(OrgUnit, DualReport.unit_id == OrgUnit.id)
                .order_by(DualReport.id)
            )
        ).all()
    return [(row[0], row[1]) for row in rows]


async def submit(ctx: Context, data: dict[str, object]) -> Reply:
    building = str(data["building"])
    vault = ctx.services.vault
    phone = str(data["phone"])
    now, openid = ctx.clock.now(), ctx.openid
    notice = ctx.text("dual_report_notice")

    def save(session: Session) -> None:
        # The grid covering their building, else the community.
        unit_id = unit_for_building(session, building)
        if unit_id is None:
            unit_id = session.scalar(
                select(OrgUnit.id)
                .where(OrgUnit.active.is_(True), OrgUnit.kind == "社区党委")
                .order_by(OrgUnit.id)
            )
        report = DualReport(
            openid=openid,
            name=str(data["name"]),
            phone_enc=vault.encrypt_phone(phone) if vault else None,
            workplace_org=str(data["org"]),
            building=building,
            door=str(data["door"]),
            unit_id=unit_id,
            created_at=now,
        )
        session.add(report)
        session.flush()
        add_system_notice(
            session,
            now,
            key=f"dual_report:{report.id}",
            text=notice,
            member_ids=secretaries_of_unit(session, unit_id),
        )

    await ctx.db.run(save)
    ctx.conversation.clear()
    return TextReply(ctx.text("dual_submitted"))


async def post_names(ctx: Context) -> list[str]:
    """The volunteer posts: the table, seeded from content/volunteer_posts.yaml the first time."""
    async with ctx.db.read() as session:
        names = list((await session.scalars(select(VolunteerPost.name).order_by(VolunteerPost.id))).all())
    if names:
        return names
    listed = yaml.safe_load((resources.files("content") / "volunteer_posts.yaml").read_text(encoding="utf-8"))

    def seed(session: Session) -> None:
        if session.scalar(select(VolunteerPost.id).limit(1)) is None:
            session.add_all(
                VolunteerPost(name=p["name"], description=p.get("description", "")) for p in listed
            )

    await ctx.db.run(seed)
    return [str(p["name"]) for p in listed]
