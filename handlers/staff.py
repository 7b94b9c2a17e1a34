"""Staff commands over their part of the tree: member lists (masked, paged, audited), binding approvals,
binding codes (for members and grid workers). Scope and permission come from bot.domain.policy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain import audit
from bot.domain.binding import Outcome, Person, Who, members_named, pending_in_scope, staff_named
from bot.domain.policy import Action, scope, within
from bot.domain.privacy import mask_phone
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Number, Regex, Role, Router, State
from bot.outbound.notices import notify_members
from bot.wechat.wire import Incoming
from models import Member, OrgUnit, Staff

PAGE = 10  # fits a passive text reply (~2048 bytes) with room to spare


def router() -> Router:
    r = Router("staff", numbered=("pick_request", "pick_code"))
    listers = Role("group_leader", "committee", "secretary", "admin")
    approvers = Role("secretary", "admin")

    # --- 成员 / 名单 [组织] ---------------------------------------------------------------------------

    @r.message(listers, Regex(r"(?:成员|名单|成员名单|党员名单)\s+(.+)"))
    async def list_unit(msg: Incoming, ctx: Context) -> Reply | None:
        return await list_members(ctx, ctx.match["regex"].group(1).strip(), page=1)

    @r.route(listers, Intent("list_members"))
    async def list_own(msg: Incoming, ctx: Context) -> Reply | None:
        return await list_members(ctx, None, page=1)

    @r.message(State("list_members"), Intent("next_page"))
    async def next_page(msg: Incoming, ctx: Context) -> Reply | None:
        data = ctx.conversation.data
        return await list_members(ctx, str(data["unit"]), page=int(data["page"]) + 1)

    # --- 待审 / 同意 姓名 / 拒绝 姓名 -------------------------------------------------------------------

    @r.route(approvers, Intent("pending_bindings"))
    async def pending(msg: Incoming, ctx: Context) -> Reply | None:
        where = scope(ctx.identity, Action.APPROVE_BINDING)
        if where is None:
            return TextReply(ctx.text("no_permission"))
        rows = await pending_in_scope(ctx.db, where)
        if not rows:
            return TextReply(ctx.text("pending_none"))
        lines = [f"{i}. {m.name}（{path.rsplit('/', 1)[-1]}）" for i, (_, m, path) in enumerate(rows, 1)]
        return TextReply(ctx.text("pending_list", lines="\n".join(lines)))

    @r.message(approvers, Regex(r"(同意|拒绝)\s*(?!保存语音)(\S*)"))
    async def decide(msg: Incoming, ctx: Context) -> Reply | None:
        where = scope(ctx.identity, Action.APPROVE_BINDING)
        if where is None:
            return TextReply(ctx.text("no_permission"))
        verb, name = ctx.match["regex"].group(1), ctx.match["regex"].group(2)
        if not name:
            return TextReply(ctx.text("decide_format"))
        rows = [(req, m) for req, m, _ in await pending_in_scope(ctx.db, where) if m.name == name]
        if not rows:
            return TextReply(ctx.text("decide_none", name=name))
        approve = verb == "同意"
        if len(rows) > 1:
            ctx.enter("pick_request", approve=approve, who=name, ids=[req.id for req, _ in rows])
            return TextReply(pick_text(ctx, name, [m for _, m in rows]))
        return await settle(ctx, rows[0][0].id, approve, name)

    @r.message(State("pick_request"), Number())
    async def pick_request(msg: Incoming, ctx: Context) -> Reply | None:
        data = ctx.conversation.data
        ids = list(data["ids"])
        number = int(ctx.match["number"])
        if not 1 <= number <= len(ids):
            return TextReply(ctx.text("pick_invalid"))
        ctx.conversation.clear()
        return await settle(ctx, int(ids[number - 1]), bool(data["approve"]), str(data["who"]))

    # --- 绑定码 姓名 -------------------------------------------------------------------------------------

    @r.message(approvers, Regex(r"绑定码\s*(\S*)"))
    async def bind_code(msg: Incoming, ctx: Context) -> Reply | None:
        where = scope(ctx.identity, Action.ISSUE_BIND_CODE)
        if where is None:
            return TextReply(ctx.text("no_permission"))
        name = ctx.match["regex"].group(1)
        if not name:
            return TextReply(ctx.text("code_format"))
        # Members and grid workers (网格员) in the scope alike; several by one name (a member who is also a
        # grid worker has two records, one code each) are a numbered choice that says which is which.
        members = [m for m, _ in await members_named(ctx.db, name, where)]
        staff = await staff_named(ctx.db, name, where)
        people = [Person.member(m.id) for m in members] + [Person.staff(s.id) for s, _ in staff]
        if not people:
            return TextReply(ctx.text("member_not_found", name=name))
        if len(people) > 1:
            ctx.enter("pick_code", who=name, ids=[p.id for p in people], kinds=[p.who.value for p in people])
            if not staff:
                return TextReply(pick_text(ctx, name, members))
            return TextReply(pick_person_text(ctx, name, members, staff))
        return await issue(ctx, people[0], name)

    @r.message(State("pick_code"), Number())
    async def pick_code(msg: Incoming, ctx: Context) -> Reply | None:
        ids = list(ctx.conversation.data["ids"])
        kinds = list(ctx.conversation.data.get("kinds") or [Who.MEMBER.value] * len(ids))
        number = int(ctx.match["number"])
        if not 1 <= number <= len(ids):
            return TextReply(ctx.text("pick_invalid"))
        name = str(ctx.conversation.data["who"])
        ctx.conversation.clear()
        return await issue(ctx, Person(Who(kinds[number - 1]), int(ids[number - 1])), name)

    @r.route(Intent("list_members", "pending_bindings"))
    @r.message(Regex(r"(?:成员|名单|成员名单|党员名单|绑定码)\s*.*"))
    @r.message(Role("member", "grid_worker"), Regex(r"(?:同意|拒绝)\s*(?!保存语音)\S+"))
    async def refused(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("no_permission"))

    return r


def actor(ctx: Context) -> str:
    return audit.actor_for(openid=ctx.openid, member_number=ctx.identity.member_number)


def pick_text(ctx: Context, name: str, members: list[Member]) -> str:
    lines = [
        f"{i}. {m.name}（{m.number}，{m.building or ''}{m.door or ''}）" for i, m in enumerate(members, 1)
    ]
    return ctx.text("pick_which", count=len(members), name=name, lines="\n".join(lines))


def pick_person_text(ctx: Context, name: str, members: list[Member], staff: list[tuple[Staff, str]]) -> str:
    """The choice when grid workers are among those of a name: each line says 党员 or 网格员."""
    lines = [
        ctx.text(
            "pick_line_member", i=i, name=m.name, number=m.number, address=f"{m.building or ''}{m.door or ''}"
        )
        for i, m in enumerate(members, 1)
    ]
    lines += [
        ctx.text("pick_line_staff", i=i, name=s.name, number=s.number, role=s.role, unit=unit)
        for i, (s, unit) in enumerate(staff, len(members) + 1)
    ]
    return ctx.text("pick_person", count=len(lines), name=name, lines="\n".join(lines))


async def settle(ctx: Context, request_id: int, approve: bool, name: str) -> Reply:
    binder = ctx.services.binder
    if binder is None:
        return TextReply(ctx.text("bind_not_ready"))
    result = await binder.decide(request_id, approve, actor(ctx), ctx.clock.now())
    if not approve:
        return TextReply(ctx.text("rejected", name=name))
    if result.outcome is not Outcome.BOUND:
        return TextReply(ctx.text("approve_taken", name=name))
    if result.openid is not None:
        ctx.services.identities.invalidate(result.openid)
    if result.member_id is not None:
        # The applicant hears at once (or with their next message), not only when they next ask.
        await notify_members(
            ctx.db,
            ctx.clock.now(),
            key=f"binding_approved:{request_id}",
            text=ctx.text("binding_approved_notice", name=name),
            member_ids=[result.member_id],
        )
    return TextReply(ctx.text("approved", name=name))


async def issue(ctx: Context, person: Person, name: str) -> Reply:
    binder = ctx.services.binder
    if binder is None:
        return TextReply(ctx.text("bind_not_ready"))
    issued = await binder.issue_code(person, actor(ctx), ctx.clock.now())
    member = person.who is Who.MEMBER
    text = ctx.text("code_issued" if member else "code_issued_staff", name=name, code=issued.secret)
    if issued.was_bound:
        # Redeeming it moves their binding to the WeChat that sends it: the secretary should know.
        text += "\n" + ctx.text("code_moves_member" if member else "code_moves_staff", name=name)
    return TextReply(text)


async def resolve_unit(ctx: Context, wanted: str | None, where: str) -> tuple[str, str] | str:
    """The unit path to list: the caller's scope, or a named unit inside it. Returns (path, name) or the
    text of the refusal."""
    async with ctx.db.read() as session:
        if wanted is None:
            if where == "":
                root = await session.scalar(
                    select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id)
                )
                return (root.path, root.name) if root else ctx.text("members_none", unit="")
            unit = await session.scalar(select(OrgUnit).where(OrgUnit.path == where))
            return (where, unit.name if unit else where.rsplit("/", 1)[-1])
        candidates = (
            await session.scalars(
                select(OrgUnit).where(
                    OrgUnit.active.is_(True),
                    (OrgUnit.name == wanted) | (OrgUnit.path == wanted) | OrgUnit.path.endswith("/" + wanted),
                )
            )
        ).all()
    if not candidates:
        return ctx.text("members_unit_unknown", unit=wanted)
    inside = [u for u in candidates if within(u.path, where)]
    if not inside:
        return ctx.text("members_outside", unit=wanted)
    return (inside[0].path, inside[0].name)


async def list_members(ctx: Context, wanted: str | None, page: int) -> Reply:
    where = scope(ctx.identity, Action.LIST_MEMBERS)
    if where is None:
        return TextReply(ctx.text("no_permission"))
    unit = await resolve_unit(ctx, wanted, where)
    if isinstance(unit, str):
        return TextReply(unit)
    path, name = unit
    in_unit = (OrgUnit.path == path) | OrgUnit.path.startswith(path + "/")
    async with ctx.db.read() as session:
        total = int(
            await session.scalar(
                select(func.count())
                .select_from(Member)
                .join(OrgUnit, Member.unit_id == OrgUnit.id)
                .where(in_unit, Member.active.is_(True))
            )
            or 0
        )
        rows = (
            await session.execute(
                select(Member, OrgUnit.name)
                .join(OrgUnit, Member.unit_id == OrgUnit.id)
                .where(in_unit, Member.active.is_(True))
                .order_by(OrgUnit.path, Member.number)
                .offset((page - 1) * PAGE)
                .limit(PAGE)
            )
        ).all()
    if total == 0:
        ctx.conversation.clear()
        return TextReply(ctx.text("members_none", unit=name))
    pages = (total + PAGE - 1) // PAGE
    vault = ctx.services.vault
    missing = ctx.text("phone_unregistered")
    lines = []
    for member, unit_name in rows:
        phone = mask_phone(vault.decrypt_phone(member.phone_enc) if vault else None, missing)
        post = f" {member.post}" if member.post else ""
        lines.append(f"{member.number} {member.name}{post} {unit_name} {phone}")
    numbers = [m.number for m, _ in rows]
    now = ctx.clock.now()
    who = actor(ctx)

    def log(session: Session) -> None:
        detail: dict[str, Any] = {"page": page, "members": numbers}
        audit.record(session, now, who, "list_members", path, **detail)

    await ctx.db.run(log)
    text = ctx.text("members_page", unit=name, total=total, page=page, pages=pages, lines="\n".join(lines))
    if page < pages:
        ctx.enter("list_members", unit=path, page=page)
        text += "\n" + ctx.text("members_more")
    else:
        ctx.conversation.clear()
        text += "\n" + ctx.text("members_end")
    return TextReply(text)


def no_more_pages_router() -> Router:
    """A `下一页` that no list's conversation took (each paged list — 成员, 报名情况, 党费情况, 流动党员 —
    answers its own first): said plainly. Included last, before the menu and the fallback."""
    r = Router("no_more_pages")

    @r.route(Intent("next_page"))
    async def nothing_to_page(msg: Incoming, ctx: Context) -> Reply | None:
        return TextReply(ctx.text("no_more_pages"))

    return r
