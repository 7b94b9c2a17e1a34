"""流动党员 in chat. A mobile member reports in once a month: `流动报到 在杭州余杭 做电工` (or `报到 …`,
or the menu's 流动报到 and then the text), or by sending a location — used only after a separate consent
(1 同意 / 2 不同意), kept to the district, and precisely only with a second consent. A secretary:
`流动登记 姓名 去向 [联络员 姓名]`, `流动结束 姓名`, `流动党员` (paged), `流入确认 姓名`,
`流入退回 姓名 原因`. Someone from another place: `流入登记`, in numbered steps.

Conversations: `mobile_report` (waiting for the text), `mobile_consent` (step location / precise),
`mobile_incoming` (name → phone → org → place → branch → confirm), `mobile_list` (the page shown)."""

from __future__ import annotations

import re
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.domain import audit
from bot.domain.mobile import (
    TEXT_LIMITS,
    Outcome,
    Registered,
    Reported,
    branches,
    consents,
    decide_incoming,
    district_of,
    end_registration,
    incoming,
    mobile_member,
    mobile_members,
    month_of,
    not_reported,
    pending_of,
    register,
    report_in,
    set_consent,
    submit_incoming,
)
from bot.domain.policy import Action, may, scope
from bot.domain.privacy import mask_phone, normalize_phone
from bot.domain.requests import find_place
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import FilterResult, Intent, Kind, Regex, Router, State
from bot.outbound.notices import add_system_notice, secretaries_of_unit
from bot.outbound.sizes import split_text
from bot.wechat.wire import Incoming
from models import Building, OrgUnit

REPORT = "mobile_report"
CONSENT = "mobile_consent"
INCOMING = "mobile_incoming"
LIST = "mobile_list"
PAGE_BYTES = 1800
SUBMIT_WORDS = frozenset({"确认", "确定", "是", "对", "提交", "好", "好的"})
IN_STEPS = ("name", "phone", "org", "place", "branch", "confirm")
IN_LIMITS = {"name": (2, 20), "org": (2, 100), "place": (2, 50)}
SEPARATOR = r"[\s:：,，]"


def _mobile(msg: Incoming, ctx: Context) -> bool:
    return "mobile" in ctx.traits and ctx.identity.member_id is not None


REPORT_WORDS = re.compile(r"(?:流动党员报到|流动报到)" + SEPARATOR + r"*(.*)")


def _report_words(msg: Incoming, ctx: Context) -> FilterResult:
    """`流动报到 …`; a bare 流动报到 only from a mobile member or someone not bound (for a member who is not
    mobile, menu_items answers that it is a service for mobile members)."""
    found = REPORT_WORDS.fullmatch(msg.text) if msg.text else None
    if found is None:
        return False
    if found.group(1) or _mobile(msg, ctx) or not ctx.identity.is_member:
        return {"regex": found}
    return False


def router() -> Router:
    r = Router("mobile", numbered=(CONSENT, INCOMING), optional=(CONSENT,))

    # --- a secretary's commands ---------------------------------------------------------------------

    @r.message(Regex(r"流动登记" + SEPARATOR + r"*(.*)"))
    async def registration(msg: Incoming, ctx: Context) -> Reply | None:
        return await _register(ctx, ctx.match["regex"].group(1))

    @r.message(Regex(r"流动结束" + SEPARATOR + r"*(\S*)\s*(\S*)"))
    async def ending(msg: Incoming, ctx: Context) -> Reply | None:
        m = ctx.match["regex"]
        return await _end(ctx, m.group(1), m.group(2))

    @r.message(Regex(r"流动党员(?:名单|情况|列表)?"))
    async def listing(msg: Incoming, ctx: Context) -> Reply | None:
        return await _list(ctx, page=1)

    @r.message(State(LIST), Intent("next_page"))
    async def listing_next(msg: Incoming, ctx: Context) -> Reply | None:
        return await _list(ctx, page=int(ctx.conversation.data.get("page", 1)) + 1)

    @r.message(Regex(r"流入确认" + SEPARATOR + r"*(\S*)"))
    async def incoming_confirm(msg: Incoming, ctx: Context) -> Reply | None:
        return await _confirm_incoming(ctx, ctx.match["regex"].group(1))

    @r.message(Regex(r"流入退回" + SEPARATOR + r"*(\S*)" + SEPARATOR + r"*(.*)"))
    async def incoming_return(msg: Incoming, ctx: Context) -> Reply | None:
        m = ctx.match["regex"]
        return await _return_incoming(ctx, m.group(1), m.group(2).strip())

    # --- conversations ------------------------------------------------------------------------------

    @r.message(State(CONSENT))
    async def consent_answer(msg: Incoming, ctx: Context) -> Reply | None:
        return await _consent_answer(msg, ctx)

    @r.message(State(REPORT), Kind("location"))
    async def report_location(msg: Incoming, ctx: Context) -> Reply | None:
        return await _location(msg, ctx)

    @r.message(State(REPORT))
    async def report_text(msg: Incoming, ctx: Context) -> Reply | None:
        text = (msg.raw_text or msg.text).strip()
        if msg.kind not in ("text", "voice") or not text:
            return TextReply(ctx.text("mobile_ask_text"))
        return await _report_text(ctx, text)

    @r.message(State(INCOMING))
    async def incoming_step(msg: Incoming, ctx: Context) -> Reply | None:
        return await _incoming_step(msg, ctx)

    # --- members ------------------------------------------------------------------------------------

    @r.message(Kind("location"), _mobile)
    async def location(msg: Incoming, ctx: Context) -> Reply | None:
        return await _location(msg, ctx)

    # Bare 流动报到 from a member who is not mobile: menu_items answers (a service for mobile members).
    @r.message(_report_words)
    async def report(msg: Incoming, ctx: Context) -> Reply | None:
        return await _report_start(ctx, ctx.match["regex"].group(1))

    # A member who is not mobile: menu_items answers that the item is a service for mobile members.
    @r.route(Intent("report_in"), lambda msg, ctx: _mobile(msg, ctx) or not ctx.identity.is_member)
    async def report_menu(msg: Incoming, ctx: Context) -> Reply | None:
        return await _report_start(ctx, "")

    # 报到 from a mobile member is the monthly report-in; for anyone else it stays 双报到
    # (handlers.dual_report).
    @r.message(_mobile, Regex(r"报到(?:" + SEPARATOR + r"+(.+))?"))
    async def report_word(msg: Incoming, ctx: Context) -> Reply | None:
        return await _report_start(ctx, ctx.match["regex"].group(1) or "")

    @r.message(Regex(r"(?:撤回|取消|关闭)位置授权"))
    async def consent_withdraw(msg: Incoming, ctx: Context) -> Reply | None:
        return await _withdraw(ctx)

    @r.message(Regex(r"位置授权"))
    async def consent_again(msg: Incoming, ctx: Context) -> Reply | None:
        if not _mobile(msg, ctx):
            return TextReply(ctx.text("mobile_not_registered", menu=ctx.menu()))
        ctx.enter(CONSENT, step="location")
        return TextReply(ctx.text("mobile_consent_location"))

    @r.message(Regex(r"流入(?:党员)?登记"))
    async def incoming_start(msg: Incoming, ctx: Context) -> Reply | None:
        return await _incoming_start(ctx)

    return r


# --- helpers -----------------------------------------------------------------------------------------


def _zone(ctx: Context) -> ZoneInfo:
    return ZoneInfo(ctx.settings.timezone)


def _month_label(ctx: Context, month: str) -> str:
    year, m = (int(part) for part in month.split("-"))
    return ctx.text("month_label", year=year, month=m)


def _actor(ctx: Context) -> str:
    return audit.actor_for(openid=ctx.openid, member_number=ctx.identity.member_number)


def _remember(ctx: Context, **values: Any) -> None:
    ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, **values)


def _secretary_scope(ctx: Context) -> str | None:
    return scope(ctx.identity, Action.MANAGE_MOBILE)


# --- the report-in -----------------------------------------------------------------------------------


async def _member_is_mobile(ctx: Context) -> bool:
    member_id = ctx.identity.member_id
    if member_id is None:
        return False
    async with ctx.db.read() as session:
        return await session.run_sync(lambda s: mobile_member(s, member_id) is not None)


async def _report_start(ctx: Context, text: str) -> Reply:
    if ctx.identity.member_id is None:
        return TextReply(ctx.text("mobile_not_member", bind_hint=ctx.hint("bind")))
    if not await _member_is_mobile(ctx):
        return TextReply(ctx.text("mobile_not_registered", menu=ctx.menu()))
    text = text.strip()
    if not text:
        ctx.enter(REPORT)
        return TextReply(ctx.text("mobile_ask_text"))
    return await _report_text(ctx, text)


async def _report_text(ctx: Context, text: str) -> Reply:
    low, high = TEXT_LIMITS
    if not low <= len(text) <= high:
        return TextReply(ctx.text("mobile_text_bad", low=low, high=high))
    member_id = ctx.identity.member_id
    assert member_id is not None
    now, zone, days = ctx.clock.now(), _zone(ctx), ctx.settings.mobile_precise_location_days
    done = await ctx.db.run(
        partial(report_in, member_id=member_id, now=now, zone=zone, text=text, precise_days=days)
    )
    ctx.conversation.clear()
    return TextReply(_reported(ctx, done))


def _reported(ctx: Context, done: Reported) -> str:
    lines = [ctx.text("mobile_reported", month=_month_label(ctx, done.month))]
    if done.text:
        lines.append(ctx.text("mobile_reported_text", text=done.text))
    if done.place:
        lines.append(ctx.text("mobile_reported_place", place=done.place))
    if done.precise and done.precise_until is not None:
        until = done.precise_until.astimezone(_zone(ctx))
        lines.append(ctx.text("mobile_reported_precise", until=ctx.content.moment(until, with_time=False)))
    if done.points:
        lines.append(ctx.text("mobile_reported_points"))
    return "\n".join(lines)


async def _location(msg: Incoming, ctx: Context) -> Reply:
    member_id = ctx.identity.member_id
    if member_id is None or not await _member_is_mobile(ctx):
        return TextReply(ctx.text("location_received", menu=ctx.menu()))
    async with ctx.db.read() as session:
        given = await session.run_sync(lambda s: consents(s, member_id))
    if given.location is None:
        # Nothing of this location is kept: the member answers first, then sends it again.
        ctx.enter(CONSENT, step="location")
        return TextReply(ctx.text("mobile_consent_location"))
    if not given.location:
        ctx.conversation.clear()
        return TextReply(ctx.text("mobile_location_refused"))
    label = msg.fields.get("Label") or ""
    precise = bool(given.precise and msg.latitude is not None and msg.longitude is not None)
    if not district_of(label) and not precise:
        return TextReply(ctx.text("mobile_location_unknown"))
    now, zone, days = ctx.clock.now(), _zone(ctx), ctx.settings.mobile_precise_location_days
    done = await ctx.db.run(
        partial(
            report_in,
            member_id=member_id,
            now=now,
            zone=zone,
            label=label,
            latitude=msg.latitude,
            longitude=msg.longitude,
            precise_days=days,
        )
    )
    ctx.conversation.clear()
    reply = _reported(ctx, done)
    if given.precise is None:
        ctx.enter(CONSENT, step="precise")
        reply += "\n" + ctx.text("mobile_consent_precise", days=days)
    return TextReply(reply)


async def _consent_answer(msg: Incoming, ctx: Context) -> Reply:
    member_id = ctx.identity.member_id
    step = str(ctx.conversation.data.get("step"))
    if member_id is None:
        ctx.conversation.clear()
        return TextReply(ctx.text("mobile_not_member", bind_hint=ctx.hint("bind")))
    if ctx.number not in (1, 2) and msg.text not in ("同意", "不同意"):
        key = "mobile_consent_location" if step == "location" else "mobile_consent_precise"
        return TextReply(
            ctx.text("mobile_consent_again")
            + "\n"
            + ctx.text(key, days=ctx.settings.mobile_precise_location_days)
        )
    agreed = ctx.number == 1 or msg.text == "同意"
    now, days = ctx.clock.now(), ctx.settings.mobile_precise_location_days
    if step == "location":
        await ctx.db.run(partial(set_consent, member_id=member_id, now=now, location=agreed))
        if not agreed:
            ctx.conversation.clear()
            return TextReply(ctx.text("mobile_consent_location_no"))
        _remember(ctx, step="precise")
        return TextReply(
            ctx.text("mobile_consent_location_yes") + "\n" + ctx.text("mobile_consent_precise", days=days)
        )
    await ctx.db.run(partial(set_consent, member_id=member_id, now=now, precise=agreed))
    ctx.conversation.clear()
    return TextReply(
        ctx.text("mobile_consent_precise_yes" if agreed else "mobile_consent_precise_no", days=days)
    )


async def _withdraw(ctx: Context) -> Reply:
    member_id = ctx.identity.member_id
    if member_id is None or not await _member_is_mobile(ctx):
        return TextReply(ctx.text("mobile_not_registered", menu=ctx.menu()))
    await ctx.db.run(partial(set_consent, member_id=member_id, now=ctx.clock.now(), location=False))
    return TextReply(ctx.text("mobile_consent_withdrawn"))


# --- 流动登记 / 流动结束 / 流动党员 ----------------------------------------------------------------------


def _registered_text(ctx: Context, done: Registered) -> str:
    if done.outcome is Outcome.NOT_FOUND:
        return ctx.text("mobile_register_not_found", name=done.name)
    if done.outcome is Outcome.MANY:
        return ctx.text("mobile_register_many", name=done.name, count=done.count, number=done.number)
    if done.outcome is Outcome.CONTACT_NOT_FOUND:
        return ctx.text("mobile_register_contact_not_found", name=done.name)
    contact = done.contact or ctx.text("mobile_contact_secretary")
    return ctx.text("mobile_registered", name=done.name, destination=done.destination, contact=contact)


async def _register(ctx: Context, rest: str) -> Reply:
    where = _secretary_scope(ctx)
    if where is None:
        return TextReply(ctx.text("mobile_secretary_only"))
    parts = rest.split()
    contact: str | None = None
    for word in ("联络员", "联系人"):
        if word in parts:
            at = parts.index(word)
            contact = parts[at + 1] if at + 1 < len(parts) else ""
            parts = parts[:at]
    number = None
    if len(parts) >= 2 and any(ch.isdigit() for ch in parts[1]) and "-" in parts[1]:
        number = parts.pop(1)  # 流动登记 王秀兰 YX-012 …: the number tells two of one name apart
    if len(parts) < 2 or contact == "":
        return TextReply(ctx.text("mobile_register_format"))
    name, destination = parts[0], "".join(parts[1:])
    if not 2 <= len(destination) <= 100:
        return TextReply(ctx.text("mobile_register_format"))
    now, who, me = ctx.clock.now(), _actor(ctx), ctx.identity.member_id

    def write(session: Session) -> Registered:
        done = register(session, where, name, destination, contact, who, me, now, number=number)
        if done.outcome is Outcome.DONE:
            audit.record(session, now, who, "register_mobile", where, member=done.number)
        return done

    return TextReply(_registered_text(ctx, await ctx.db.run(write)))


async def _end(ctx: Context, name: str, number: str) -> Reply:
    where = _secretary_scope(ctx)
    if where is None:
        return TextReply(ctx.text("mobile_secretary_only"))
    if not name:
        return TextReply(ctx.text("mobile_end_format"))
    now, who = ctx.clock.now(), _actor(ctx)

    def write(session: Session) -> Registered:
        done = end_registration(session, where, name, who, now, number=number or None)
        if done.outcome in (Outcome.DONE, Outcome.STILL_ROSTER):
            audit.record(session, now, who, "end_mobile", where, member=done.number)
        return done

    done = await ctx.db.run(write)
    if done.outcome is Outcome.NOT_MOBILE:
        return TextReply(ctx.text("mobile_end_not_found", name=name))
    if done.outcome is Outcome.MANY:
        return TextReply(ctx.text("mobile_register_many", name=name, count=done.count, number=done.number))
    key = "mobile_ended_roster" if done.outcome is Outcome.STILL_ROSTER else "mobile_ended"
    return TextReply(ctx.text(key, name=done.name))


async def _list(ctx: Context, page: int) -> Reply:
    where = _secretary_scope(ctx)
    if where is None:
        return TextReply(ctx.text("mobile_secretary_only"))
    now, zone, who = ctx.clock.now(), _zone(ctx), _actor(ctx)
    month = month_of(now, zone)
    vault = ctx.services.vault

    def read(session: Session) -> str:
        members = mobile_members(session, where)
        missing = {m.member_id for m in not_reported(session, month, where)}
        lines = [ctx.text("mobile_list_head", month=_month_label(ctx, month), count=len(members))]
        for i, m in enumerate(members, 1):
            if m.last is None:
                last = ctx.text("mobile_list_never")
            else:
                what = " ".join(part for part in (m.last.place, m.last.text) if part)
                last = ctx.text("mobile_list_last", month=_month_label(ctx, m.last.month), what=what)
            lines.append(
                ctx.text("mobile_list_item", i=i, name=m.name, destination=m.destination or "—", last=last)
            )
        names = [m.name for m in members if m.member_id in missing]
        lines.append(ctx.text("mobile_list_missing", count=len(names), names="、".join(names) or "无"))
        guests = incoming(session, where)
        lines.append(ctx.text("mobile_list_incoming_head", count=len(guests)))
        for i, (entry, unit) in enumerate(guests, 1):
            phone = mask_phone(
                vault.decrypt_phone(entry.phone_enc) if vault else None, ctx.text("phone_unregistered")
            )
            status = ctx.text(f"mobile_incoming_status_{entry.status}", name=entry.name)
            lines.append(
                ctx.text(
                    "mobile_list_incoming_item",
                    i=i,
                    name=entry.name,
                    phone=phone,
                    org=entry.home_org,
                    place=entry.place,
                    unit=unit,
                    status=status,
                )
            )
        audit.record(
            session,
            now,
            who,
            "list_mobile_members",
            where,
            members=[m.number for m in members],
            incoming=[e.id for e, _ in guests],
        )
        return "\n".join(lines)

    body = await ctx.db.run(read)
    pages = split_text(body, PAGE_BYTES) or [body]
    page = min(page, len(pages))
    text = pages[page - 1]
    if len(pages) > 1:
        text = ctx.text("mobile_list_page", page=page, pages=len(pages)) + "\n" + text
    if page < len(pages):
        ctx.enter(LIST, page=page)
        text += "\n" + ctx.text("answers_more")
    else:
        ctx.conversation.clear()
    return TextReply(text)


# --- 流入 ----------------------------------------------------------------------------------------------


async def _incoming_start(ctx: Context) -> Reply:
    if ctx.identity.is_member:
        return TextReply(ctx.text("mobile_incoming_member"))
    if not may(ctx.identity, Action.REGISTER_INCOMING):
        return TextReply(ctx.text("mobile_incoming_staff"))
    openid = ctx.openid
    async with ctx.db.read() as session:
        existing = await session.run_sync(lambda s: pending_of(s, openid))
    if existing is not None:
        return TextReply(
            ctx.text(
                "mobile_incoming_already",
                status=ctx.text(f"mobile_incoming_status_{existing.status}", name=existing.name),
            )
        )
    ctx.enter(INCOMING, step="name")
    return TextReply(ctx.text("mobile_incoming_start"))


def _incoming_confirm_text(ctx: Context, data: dict[str, Any]) -> str:
    return ctx.text(
        "mobile_incoming_check_by_place" if data.get("unit_by_place") else "mobile_incoming_check",
        name=data["name"],
        phone=data["phone"],
        org=data["org"],
        place=data["place"],
        unit=data["unit_name"],
    )


async def _branch_list(ctx: Context) -> list[tuple[int, str, str]]:
    async with ctx.db.read() as session:
        return await session.run_sync(lambda s: branches(s))


async def _incoming_step(msg: Incoming, ctx: Context) -> Reply:
    data = dict(ctx.conversation.data)
    current = str(data.get("step"))
    text = (msg.raw_text or msg.text).strip()
    if current == "confirm":
        if ctx.number == 2 and data.get("unit_by_place"):
            data.update(step="branch", unit_by_place=False)
            _remember(ctx, **data)
            return TextReply(ctx.text("mobile_incoming_ask_branch", lines=await _branch_lines(ctx)))
        if ctx.number != 1 and msg.text not in SUBMIT_WORDS:
            return TextReply(_incoming_confirm_text(ctx, data))
        return await _incoming_submit(ctx, data)
    if current == "branch":
        found = await _pick_branch(ctx, text)
        if found is None:
            return TextReply(ctx.text("mobile_incoming_branch_bad", lines=await _branch_lines(ctx)))
        data.update(step="confirm", unit_id=found[0], unit_name=found[1])
        _remember(ctx, **data)
        return TextReply(_incoming_confirm_text(ctx, data))
    if current == "phone":
        phone = normalize_phone(text)
        if phone is None:
            return TextReply(ctx.text("mobile_incoming_bad_phone"))
        value = phone
    else:
        low, high = IN_LIMITS[current]
        if msg.kind != "text" or not low <= len(text) <= high:
            return TextReply(ctx.text("mobile_incoming_bad_text", low=low, high=high))
        value = text
    following = IN_STEPS[IN_STEPS.index(current) + 1]
    data.update({current: value, "step": following})
    _remember(ctx, **data)
    if following == "branch":
        # The building given as the address already says which branch covers it.
        by_place = await _branch_of_building(ctx, value, await _branch_list(ctx))
        if by_place is not None:
            data.update(step="confirm", unit_id=by_place[0], unit_name=by_place[1], unit_by_place=True)
            _remember(ctx, **data)
            return TextReply(_incoming_confirm_text(ctx, data))
        return TextReply(ctx.text("mobile_incoming_ask_branch", lines=await _branch_lines(ctx)))
    return TextReply(ctx.text(f"mobile_incoming_ask_{following}"))


async def _pick_branch(ctx: Context, text: str) -> tuple[int, str] | None:
    """A number from the list, a branch's name, or a building here (the branch covering it)."""
    listed = await _branch_list(ctx)
    if ctx.number is not None and 1 <= ctx.number <= len(listed):
        unit_id, _, name = listed[ctx.number - 1]
        return unit_id, name
    for unit_id, _, name in listed:
        if text and text == name:
            return unit_id, name

    return await _branch_of_building(ctx, text, listed)


async def _branch_of_building(
    ctx: Context, text: str, listed: list[tuple[int, str, str]]
) -> tuple[int, str] | None:
    """The listed branch covering the building named in `text` ("5号楼2单元602", "五号楼"), if any."""

    def by_building(session: Session) -> tuple[int, str] | None:
        building_id = find_place(session, text).building_id
        building = session.get(Building, building_id) if building_id is not None else None
        unit = session.get(OrgUnit, building.unit_id) if building and building.unit_id else None
        while unit is not None:
            for branch_id, _, name in listed:
                if branch_id == unit.id:
                    return branch_id, name
            unit = session.get(OrgUnit, unit.parent_id) if unit.parent_id is not None else None
        return None

    if not text:
        return None
    async with ctx.db.read() as session:
        return await session.run_sync(by_building)


async def _branch_lines(ctx: Context) -> str:
    listed = await _branch_list(ctx)
    return "\n".join(f"{i} {name}" for i, (_, _, name) in enumerate(listed, 1))


async def _incoming_submit(ctx: Context, data: dict[str, Any]) -> Reply:
    vault = ctx.services.vault
    phone = str(data["phone"])
    now, openid, unit_id = ctx.clock.now(), ctx.openid, int(data["unit_id"])
    notice = ctx.text("mobile_incoming_notice", name=data["name"])

    def save(session: Session) -> None:
        entry = submit_incoming(
            session,
            openid,
            name=str(data["name"]),
            phone_enc=vault.encrypt_phone(phone) if vault else None,
            home_org=str(data["org"]),
            place=str(data["place"]),
            unit_id=unit_id,
            now=now,
        )
        add_system_notice(
            session,
            now,
            key=f"mobile_incoming:{entry.id}",
            text=notice,
            member_ids=secretaries_of_unit(session, unit_id),
        )

    await ctx.db.run(save)
    ctx.conversation.clear()
    return TextReply(ctx.text("mobile_incoming_submitted"))


async def _confirm_incoming(ctx: Context, name: str) -> Reply:
    where = _secretary_scope(ctx)
    if where is None:
        return TextReply(ctx.text("mobile_secretary_only"))
    if not name:
        return TextReply(ctx.text("mobile_incoming_confirm_format"))
    now, who = ctx.clock.now(), _actor(ctx)
    welcome = ctx.text("mobile_incoming_confirmed_notice")

    def write(session: Session) -> str | None:
        return decide_incoming(session, where, name, who, now, notice=welcome).openid

    openid = await ctx.db.run(write)
    if openid is None:
        return TextReply(ctx.text("mobile_incoming_none", name=name))
    ctx.services.identities.invalidate(openid)
    return TextReply(ctx.text("mobile_incoming_confirmed", name=name))


async def _return_incoming(ctx: Context, name: str, reason: str) -> Reply:
    where = _secretary_scope(ctx)
    if where is None:
        return TextReply(ctx.text("mobile_secretary_only"))
    if not name or not reason:
        return TextReply(ctx.text("mobile_incoming_return_format"))
    now, who = ctx.clock.now(), _actor(ctx)
    text = ctx.text("mobile_incoming_returned_notice", reason=reason)

    def write(session: Session) -> bool:
        done = decide_incoming(session, where, name, who, now, notice=text, reason=reason)
        return done.outcome is Outcome.DONE

    if not await ctx.db.run(write):
        return TextReply(ctx.text("mobile_incoming_none", name=name))
    return TextReply(ctx.text("mobile_incoming_returned", name=name))
