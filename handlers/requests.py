"""居民诉求 in chat, the resident's side. Anyone files a ticket: `反映 3号楼2单元楼道灯坏了` (or 报修, 投诉,
求助, the menu's 反映问题 and then the description, or words the intent matcher takes for a problem), as
text or voice, with photos. A report without a building asks for it from a numbered list (`跳过`), then,
once and optionally, for a phone number for a call back; an urgent one is filed at once, the emergency
numbers first, the building asked after. Then: `进度` / `我的诉求` (their own tickets), `进度 R…` (one of
theirs), and the rating, a bare 1/2/3 (with words after) when a ticket waits for one, or `评价 R… 1`.
The handlers' commands are in handlers/request_staff.py.

Conversations: `request_describe` (waiting for the description), `request_building` (the list, before
filing), `request_phone` (before filing, or after an urgent one), `request_place` (an urgent ticket's
building, after filing), `request_filed` (photos attach to the ticket)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.domain.policy import Action, may
from bot.domain.privacy import normalize_phone
from bot.domain.requests import (
    Classified,
    Filed,
    Place,
    Refused,
    Reporter,
    RequestRules,
    TicketView,
    add_photo,
    awaiting_rating,
    building_choices,
    classify,
    file_ticket,
    find_place,
    my_tickets,
    rate,
    set_phone,
    set_place,
)
from bot.edge.context import Context
from bot.edge.replies import Reply, TextReply
from bot.edge.router import Intent, Kind, Regex, Router, State
from bot.wechat.wire import Incoming

DESCRIBE = "request_describe"
BUILDING = "request_building"
PHONE = "request_phone"
PLACE = "request_place"
FILED = "request_filed"

# A ticket number as people type it: R20261201-0007, r20261201 7, Ｒ20261201－0007 (after NFKC).
NUMBER = r"[rR]\s*(\d{8})\s*[-－—_]?\s*(\d{1,5})"
COMMAND = re.compile(r"^(?:我要反映|反映问题|反映|报修|投诉|求助|诉求)[\s:：,，。]*")
# What is no description: the command word alone, or the menu item's words.
NO_DESCRIPTION = frozenset({"", "问题", "一下", "个问题", "代居民反映问题", "我要反映", "反映问题"})
SKIP_WORDS = frozenset({"跳过", "不用", "不需要", "不留", "没有", "无", "不填", "略过", "否", "不要"})
MIN_TEXT, MAX_TEXT = 3, 500
MAX_PHOTOS = 9
RATING_WORDS = re.compile(r"([123一二三])(?:分)?[\s，,、。.:：]+(.+)")
# `评价`, `评价 1`, `评价 R… 3 灯还是不亮` (not 评价一下…: words after the digit need a space or a comma).
RATE_COMMAND = re.compile(
    r"评价\s*(?:" + NUMBER + r")?\s*(?:([123一二三])(?:[\s，,、。.:：]+(.*))?)?", re.IGNORECASE | re.DOTALL
)
PROGRESS_ONE = re.compile(r"(?:查进度|进度|查询|查看)\s*" + NUMBER, re.IGNORECASE)
DIGITS = {"1": 1, "2": 2, "3": 3, "一": 1, "二": 2, "三": 3}
MY_LIMIT = 8
FIND_LIMIT = 50

T = TypeVar("T")


def ticket_number(date: str, counter: str) -> str:
    return f"R{date}-{int(counter):04d}"


def raw(msg: Incoming) -> str:
    """What the person wrote (or WeChat heard), edges trimmed: for descriptions and notes, which keep their
    case and their full-width punctuation."""
    return (msg.raw_text or msg.text or "").strip()


async def read(ctx: Context, fn: Callable[[Session], T]) -> T:
    """Run a synchronous domain read over a read session."""
    async with ctx.db.read() as session:
        return await session.run_sync(fn)


def rules_of(ctx: Context) -> RequestRules:
    return RequestRules.from_settings(ctx.settings, holidays=ctx.services.holidays)


def say(ctx: Context) -> Callable[..., str]:
    return lambda key, **values: ctx.content.text(key, **values)


def when(ctx: Context, at: datetime) -> str:
    """A moment in local time, as other texts write it: 12月20日（星期日）09:00."""
    return ctx.content.moment(at.astimezone(ZoneInfo(ctx.settings.timezone)))


def state_label(ctx: Context, code: str) -> str:
    names = ctx.content.texts.get("req_states", {})
    return str(names.get(code, code)) if isinstance(names, dict) else code


def event_label(ctx: Context, kind: str) -> str:
    names = ctx.content.texts.get("req_event_kinds", {})
    return str(names.get(kind, kind)) if isinstance(names, dict) else kind


def history_text(ctx: Context, view: TicketView) -> str:
    lines = []
    sources = ctx.content.texts.get("req_sources", {})
    for at, kind, note in view.history:
        if kind == "filed" and isinstance(sources, dict):
            note = str(sources.get(note, note))
        line = ctx.text("req_history_line", at=when(ctx, at), kind=event_label(ctx, kind))
        lines.append(line + (ctx.text("req_history_note", note=note) if note else ""))
    return "\n".join(lines)


def ticket_head(ctx: Context, view: TicketView) -> str:
    place = ctx.text("req_place_of", place=view.place) if view.place else ""
    flags = (ctx.text("req_flag_urgent") if view.urgent else "") + (
        ctx.text("req_flag_overdue") if view.overdue and view.state in ("new", "taken") else ""
    )
    return ctx.text(
        "req_ticket_head",
        number=view.number,
        category=view.category,
        place=place,
        flags=flags,
        state=state_label(ctx, view.state),
    )


def taker(ctx: Context, view: TicketView) -> str:
    """Who took it, as a resident is told: 网格员韩师傅, 王同志 (the view gives "网格员 韩", "党员 王")."""
    if not view.taken_by:
        return ""
    role, _, surname = view.taken_by.partition(" ")
    forms = ctx.content.texts.get("req_takers", {})
    form = forms.get(role) if isinstance(forms, dict) else None
    return str(form).format(surname=surname) if form and surname else view.taken_by


def refused_text(ctx: Context, reason: str, number: str = "", **values: object) -> str:
    key = f"req_refused_{reason}"
    if key not in ctx.content.texts:
        key = "req_refused_state"
    fields: dict[str, object] = {"verb": ctx.text("req_verb_view"), "unit": "", **values}
    return ctx.text(key, number=number or "R20261201-0007", **fields)


def _reporter(ctx: Context) -> Reporter:
    ident = ctx.identity
    return Reporter(openid=ctx.openid, member_id=ident.member_id, staff_id=ident.staff_id, name=ident.name)


def _remember(ctx: Context, **values: Any) -> None:
    ctx.conversation.update(ctx.clock.now(), ctx.settings.conversation_ttl_s, **values)


def _place_of(data: dict[str, Any]) -> Place:
    return Place(data.get("building_id"), data.get("door"), str(data.get("label") or ""))


def _place_data(place: Place) -> dict[str, Any]:
    return {"building_id": place.building_id, "door": place.door, "label": place.label}


# --- the router ------------------------------------------------------------------------------------


def steps_router() -> Router:
    """The conversations' steps: they take free text (a description may well say 党费 or 学习), so they go
    right after help, records and meetings (bot.app.build_root_router)."""
    # The building after an urgent ticket and the call-back phone are optional questions: a message with an
    # intent of its own (党费, 待办 …) leaves them and is answered as itself; the ticket is filed already.
    r = Router("request_steps", numbered=(BUILDING, PLACE), optional=(PLACE, PHONE))

    @r.message(State(DESCRIBE, BUILDING, PHONE, PLACE, FILED), Kind("image"))
    async def photo(msg: Incoming, ctx: Context) -> Reply | None:
        return await _photo(msg, ctx)

    @r.message(State(DESCRIBE), Kind("text", "voice"))
    async def describe(msg: Incoming, ctx: Context) -> Reply | None:
        if ctx.intent == "request_list":  # 进度 / 我的诉求 instead of a description
            ctx.conversation.clear()
            return await show_mine(ctx)
        text = COMMAND.sub("", raw(msg)).strip()
        if not msg.text or text in NO_DESCRIPTION:
            return TextReply(ctx.text("req_ask_description"))
        media = list(ctx.conversation.data.get("media") or [])
        return await _start(msg, ctx, text, media)

    @r.message(State(BUILDING), Kind("text", "voice"))
    async def building(msg: Incoming, ctx: Context) -> Reply | None:
        return await _building_answer(msg, ctx)

    @r.message(State(PLACE), Kind("text", "voice"))
    async def place_after(msg: Incoming, ctx: Context) -> Reply | None:
        return await _place_after(msg, ctx)

    @r.message(State(PHONE), Kind("text", "voice"))
    async def phone(msg: Incoming, ctx: Context) -> Reply | None:
        return await _phone_answer(msg, ctx)

    return r


def router() -> Router:
    r = Router("requests")

    @r.number_claim
    async def rating_digit(msg: Incoming, ctx: Context) -> str | None:
        """A bare 1, 2 or 3 rates the ticket waiting for a rating; otherwise it is a menu number."""
        if ctx.number not in (1, 2, 3):
            return None
        openid = ctx.openid
        if await read(ctx, lambda s: awaiting_rating(s, openid)) is None:
            return None
        return "request_rate"

    @r.route(Intent("request_rate"))
    async def rating(msg: Incoming, ctx: Context) -> Reply | None:
        return await _rate(ctx, int(ctx.number or 0), "", None)

    @r.message(Regex(RATE_COMMAND))
    async def rating_command(msg: Incoming, ctx: Context) -> Reply | None:
        found = RATE_COMMAND.fullmatch(raw(msg)) or ctx.match["regex"]
        digit = found.group(3)
        if digit is None:
            return TextReply(ctx.text("req_rate_format"))
        number = ticket_number(found.group(1), found.group(2)) if found.group(1) else None
        return await _rate(ctx, DIGITS[digit], (found.group(4) or "").strip(), number)

    # `3 灯还是不亮`: a rating with words, when a ticket waits for one.
    @r.message(Regex(RATING_WORDS))
    async def rating_words(msg: Incoming, ctx: Context) -> Reply | None:
        openid = ctx.openid
        if await read(ctx, lambda s: awaiting_rating(s, openid)) is None:
            if ctx.intent == "request_new":
                return await _start(msg, ctx, raw(msg), [])
            return TextReply(ctx.text("unknown_text", menu=ctx.menu()))
        found = RATING_WORDS.fullmatch(raw(msg)) or ctx.match["regex"]
        return await _rate(ctx, DIGITS[found.group(1)], found.group(2).strip(), None)

    @r.message(Regex(PROGRESS_ONE))
    async def progress_one(msg: Incoming, ctx: Context) -> Reply | None:
        found = ctx.match["regex"]
        return await show_own(ctx, ticket_number(found.group(1), found.group(2)))

    @r.route(Intent("request_list"))
    async def mine(msg: Incoming, ctx: Context) -> Reply | None:
        return await show_mine(ctx)

    @r.route(Intent("request_new"))
    async def new(msg: Incoming, ctx: Context) -> Reply | None:
        if not may(ctx.identity, Action.FILE_REQUEST):
            return TextReply(ctx.text("no_permission"))
        text = "" if ctx.number is not None or msg.is_event else COMMAND.sub("", raw(msg)).strip()
        if text in NO_DESCRIPTION:
            ctx.enter(DESCRIBE)
            return TextReply(ctx.text("req_ask_description"))
        return await _start(msg, ctx, text, [])

    return r


# --- filing ------------------------------------------------------------------------------------------


async def _start(msg: Incoming, ctx: Context, text: str, media: list[str]) -> Reply:
    """A description arrived: understand it, then ask for what is missing or file it."""
    if len(text) < MIN_TEXT or len(text) > MAX_TEXT:
        # Too short to act on ("漏水"): ask what and where; too long: ask for it shorter.
        ctx.enter(DESCRIBE, media=media)
        if len(text) < MIN_TEXT:
            return TextReply(ctx.text("req_ask_description"))
        return TextReply(ctx.text("req_text_bad", low=MIN_TEXT, high=MAX_TEXT))
    classified = classify(ctx.nlp.tokens(text), text)
    place = await read(ctx, lambda s: find_place(s, text))
    source = "voice" if msg.kind == "voice" else "text"
    data: dict[str, Any] = {
        "text": text,
        "category": classified.category,
        "urgent": classified.urgent,
        "source": source,
        "media": media,
        **_place_data(place),
    }
    if classified.urgent:
        return await _file(ctx, data)
    if place.building_id is None:
        choices = await read(ctx, building_choices)
        if choices:
            ctx.enter(BUILDING, choices=[list(c) for c in choices], **data)
            return TextReply(_building_question(ctx, choices, "req_ask_building"))
    return await _file(ctx, data)


def _building_question(ctx: Context, choices: list[tuple[int, str]] | list[list[Any]], key: str) -> str:
    lines = "\n".join(f"{i} {name}" for i, (_, name) in enumerate(choices, 1))
    return ctx.text(key, lines=lines, example=choices[0][1])


def _pick_building(msg: Incoming, ctx: Context) -> Place | str | None:
    """The building a person answered from the list: a Place, "skip", or None (not understood)."""
    data = ctx.conversation.data
    choices = [(int(i), str(name)) for i, name in data.get("choices") or []]
    text = (msg.text or "").strip()
    if text in SKIP_WORDS:
        return "skip"
    number = ctx.number if ctx.number is not None else ctx.nlp.number(text)
    if number is not None:
        if 1 <= number <= len(choices):
            building_id, name = choices[number - 1]
            return Place(building_id, None, name)
        return None
    return text or None


async def _building_answer(msg: Incoming, ctx: Context) -> Reply:
    data = dict(ctx.conversation.data)
    picked = _pick_building(msg, ctx)
    if isinstance(picked, str) and picked != "skip":
        typed = picked
        found = await read(ctx, lambda s: find_place(s, typed))
        picked = found if found.building_id is not None else None
    if picked is None:
        return TextReply(_building_question(ctx, data.get("choices") or [], "req_building_again"))
    if isinstance(picked, Place):
        data.update(_place_data(picked))
    data.pop("choices", None)
    ctx.conversation.clear()
    return await _file(ctx, data)


def _phone_of(msg: Incoming) -> str | None:
    return normalize_phone(raw(msg))


async def _phone_answer(msg: Incoming, ctx: Context) -> Reply:
    data = dict(ctx.conversation.data)
    text = (msg.text or "").strip()
    phone = _phone_of(msg)
    if phone is None and text not in SKIP_WORDS:
        return TextReply(ctx.text("req_phone_bad"))
    vault = ctx.services.vault
    phone_enc = vault.encrypt_phone(phone) if vault is not None and phone else None
    now, ticket_id = ctx.clock.now(), int(data["ticket_id"])
    if phone_enc is not None:
        await ctx.db.run(lambda s: set_phone(s, now, ticket_id, phone_enc))
    _to_filed(ctx, data)
    return TextReply(ctx.text("req_phone_saved" if phone_enc else "req_phone_skipped", number=data["number"]))


async def _file(ctx: Context, data: dict[str, Any]) -> Reply:
    """File it, then say what was understood and promised; an urgent one without a building asks for it
    now, and every new one asks once, optionally, for a phone number for a call back."""
    rules, now, reporter, text = rules_of(ctx), ctx.clock.now(), _reporter(ctx), str(data["text"])
    classified = Classified(str(data["category"]), bool(data["urgent"]))
    place, words = _place_of(data), say(ctx)
    media = [str(m) for m in data.get("media") or []]

    def write(session: Session) -> Filed:
        return file_ticket(
            session,
            now,
            rules,
            words,
            reporter,
            text,
            classified,
            place,
            source=str(data.get("source") or "text"),
            media_ids=media,
        )

    try:
        filed = await ctx.db.run(write)
    except Refused:  # no organisation imported yet: nobody to route it to
        ctx.conversation.clear()
        return TextReply(ctx.text("req_no_unit"))
    after = {"ticket_id": filed.ticket_id, "number": filed.number, "photos": len(media)}
    parts: list[str] = []
    if filed.urgent and not filed.repeat:
        parts.append(_emergency(ctx, rules))
    parts.append(_filed_text(ctx, filed, place))
    if filed.urgent and not filed.repeat and place.building_id is None:
        choices = await read(ctx, building_choices)
        if choices:
            ctx.enter(PLACE, choices=[list(c) for c in choices], **after)
            parts.append(_building_question(ctx, choices, "req_ask_building_after"))
            return TextReply("\n".join(parts))
    if not filed.repeat and ctx.services.vault is not None:
        ctx.enter(PHONE, **after)
        parts.append(ctx.text("req_ask_phone"))
        return TextReply("\n".join(parts))
    _to_filed(ctx, after)
    parts.append(ctx.text("req_photos_hint"))
    return TextReply("\n".join(parts))


def _to_filed(ctx: Context, data: dict[str, Any]) -> None:
    ctx.enter(FILED, ticket_id=data["ticket_id"], number=data["number"], photos=int(data.get("photos") or 0))


def _emergency(ctx: Context, rules: RequestRules) -> str:
    gas = ctx.text("req_emergency_gas", phone=rules.gas_phone) if rules.gas_phone else ""
    return ctx.text("req_emergency", gas=gas)


def _filed_text(ctx: Context, filed: Filed, place: Place) -> str:
    where = ctx.text("req_place_of", place=place.label) if place.label else ""
    if filed.repeat:
        return ctx.text(
            "req_repeat", number=filed.number, hint=ctx.text("req_progress_hint", number=filed.number)
        )
    promise = ctx.text(
        "req_promise_urgent" if filed.urgent else "req_promise",
        unit=filed.unit_name,
        take=when(ctx, filed.take_due),
        solve=when(ctx, filed.solve_due),
    )
    if filed.merged_into is not None:
        # Their own number (`进度 R…` finds it); the group is handled as one.
        head = ctx.text("req_merged", count=filed.reporters, number=filed.number)
        return "\n".join([head, ctx.text("req_category", category=filed.category, place=where), promise])
    head = ctx.text("req_filed", number=filed.number)
    return "\n".join([head, ctx.text("req_category", category=filed.category, place=where), promise])


async def _place_after(msg: Incoming, ctx: Context) -> Reply:
    """An urgent ticket's building, asked after filing."""
    data = dict(ctx.conversation.data)
    picked = _pick_building(msg, ctx)
    if isinstance(picked, str) and picked != "skip":
        typed = picked
        found = await read(ctx, lambda s: find_place(s, typed))
        picked = found if found.building_id is not None else None
    if picked is None:
        return TextReply(_building_question(ctx, data.get("choices") or [], "req_building_again"))
    data.pop("choices", None)
    parts: list[str] = []
    if isinstance(picked, Place):
        chosen, now, ticket_id = picked, ctx.clock.now(), int(data["ticket_id"])
        await ctx.db.run(lambda s: set_place(s, now, ticket_id, chosen))
        parts.append(ctx.text("req_place_saved", place=chosen.label, number=data["number"]))
    else:
        parts.append(ctx.text("req_place_skipped", number=data["number"]))
    if ctx.services.vault is not None:
        ctx.enter(PHONE, **data)
        parts.append(ctx.text("req_ask_phone"))
    else:
        _to_filed(ctx, data)
    return TextReply("\n".join(parts))


async def _photo(msg: Incoming, ctx: Context) -> Reply:
    data = ctx.conversation.data
    media_id = msg.media_id
    if not media_id:
        return TextReply(ctx.text("req_photo_unreadable"))
    ticket_id = data.get("ticket_id")
    if ticket_id is None:
        # Before filing: kept with the report and attached when it is filed.
        media = [str(m) for m in data.get("media") or []]
        if len(media) >= MAX_PHOTOS:
            return TextReply(ctx.text("req_photos_full", limit=MAX_PHOTOS))
        if media_id not in media:
            media.append(media_id)
        _remember(ctx, media=media)
        key = "req_photo_before" if ctx.conversation.name == DESCRIBE else "req_photo_kept"
        return TextReply(ctx.text(key, count=len(media)))
    count = int(data.get("photos") or 0)
    if count >= MAX_PHOTOS:
        return TextReply(ctx.text("req_photos_full", limit=MAX_PHOTOS))
    now, tid = ctx.clock.now(), int(ticket_id)
    added = await ctx.db.run(lambda s: add_photo(s, now, tid, media_id))
    if added:
        count += 1
        _remember(ctx, photos=count)
    return TextReply(ctx.text("req_photo_added", count=count, number=data.get("number", "")))


# --- the resident's tickets --------------------------------------------------------------------------


async def show_mine(ctx: Context) -> Reply:
    openid, now = ctx.openid, ctx.clock.now()
    views = await read(ctx, lambda s: my_tickets(s, now, openid, limit=MY_LIMIT))
    if not views:
        return TextReply(ctx.text("req_mine_none", hint=ctx.hint("request_new")))
    lines = [ctx.text("req_mine_head", count=len(views))]
    for i, view in enumerate(views, 1):
        lines.append(
            ctx.text("req_mine_item", i=i, head=ticket_head(ctx, view), filed=when(ctx, view.filed_at))
        )
        lines.append(_status_line(ctx, view))
    lines.append(ctx.text("req_mine_foot", number=views[0].number))
    return TextReply("\n".join(lines))


def _status_line(ctx: Context, view: TicketView) -> str:
    if view.state == "new":
        return ctx.text("req_status_new", take=when(ctx, view.take_due))
    if view.state == "taken":
        return ctx.text(
            "req_status_taken", who=taker(ctx, view) or view.unit_name, solve=when(ctx, view.solve_due)
        )
    if view.state == "solved":
        return ctx.text("req_status_solved")
    rating = ctx.content.texts.get("req_ratings", {}).get(view.rating) if view.rating else None
    return ctx.text("req_status_closed", rating=ctx.text("req_rated", rating=rating) if rating else "")


async def show_own(ctx: Context, number: str) -> Reply:
    """`进度 R…`: one of the sender's own tickets (a handler's grid tickets are `诉求 R…`)."""
    openid, now = ctx.openid, ctx.clock.now()
    views = await read(ctx, lambda s: my_tickets(s, now, openid, limit=FIND_LIMIT))
    view = next((v for v in views if v.number == number), None)
    if view is None:
        return TextReply(ctx.text("req_not_mine", number=number))
    return TextReply(
        "\n".join(
            [
                ticket_head(ctx, view),
                ctx.text("req_view_text", text=view.text),
                _status_line(ctx, view),
                history_text(ctx, view),
            ]
        )
    )


# --- ratings -----------------------------------------------------------------------------------------


async def _rate(ctx: Context, rating: int, words: str, number: str | None) -> Reply:
    if rating not in (1, 2, 3):
        return TextReply(ctx.text("req_rate_format"))
    now, rules, openid, text = ctx.clock.now(), rules_of(ctx), ctx.openid, say(ctx)
    try:
        result = await ctx.db.run(lambda s: rate(s, now, text, openid, rating, words, number, rules=rules))
    except Refused as refused:
        if refused.reason == "not_found":
            return TextReply(
                ctx.text("req_rate_nothing" if number is None else "req_not_mine", number=number)
            )
        return TextReply(refused_text(ctx, refused.reason, number or ""))
    if result.rating == 3:
        key = "req_rated_reopened" if result.reopened else "req_rated_closed_unsatisfied"
    else:
        key = "req_rated_changed" if result.changed else "req_rated_thanks"
    label = ctx.content.texts.get("req_ratings", {}).get(result.rating, "")
    return TextReply(ctx.text(key, number=result.number, rating=label))
