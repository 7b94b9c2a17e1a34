"""The console's 居民诉求: the board of the user's tickets by state (the same scope as chat's 待办, overdue
first), one ticket with its history, reporter, group and photos, and the chat's actions on it — 接单, 进展,
转派, 复杂, 办结 and 电话 — each a POST calling the same bot.domain.requests function as chat (which writes
the same notices to the residents), answered on the ticket's page (PRG)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp_session import get_session
from sqlalchemy.orm import Session

from bot.console.deps import clock, content, services, settings, user
from bot.console.export import wants_xlsx, xlsx_download
from bot.console.pages import refuse, render
from bot.console.views import _int
from bot.domain import audit
from bot.domain.policy import Action, Role, may
from bot.domain.requests import (
    BOARD_STATES,
    OPEN,
    VERBS,
    Card,
    Detail,
    Handler,
    Refused,
    RequestRules,
    TicketView,
    act,
    board,
    handler_for,
    incomplete,
    reporter_phone,
    request_words,
    ticket_detail,
    transfer_targets,
)
from bot.workbook import Sheet

PAGE = 50
REASONS = ("not_found", "not_yours", "state", "unknown_unit")
NOTE_MAX = 500
PHONE_KEY = "request_phone"  # the session's one-time reveal of a reporter's phone


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/requests", board_page, name="requests")
    router.add_get("/requests/{number}", ticket_page, name="request")
    router.add_get("/requests/{number}/photos/{seq}", photo, name="request_photo")
    for verb in VERBS:
        router.add_post(f"/requests/{{number}}/{verb}", _acting(verb), name=f"request_{verb}")
    router.add_post("/requests/{number}/phone", phone, name="request_phone")


# --- who handles --------------------------------------------------------------------------------------


async def _read(request: web.Request, fn: Callable[[Session], Any]) -> Any:
    async with services(request).db.read() as session:
        return await session.run_sync(fn)


async def _handler(request: web.Request) -> Handler | None:
    """The user as a handler (bot.domain.requests.handler_for, as chat's 待办). An administrator logged in
    by password (no WeChat) reads everything but acts on nothing: the residents are told who took a ticket,
    and the reporter's phone is for whoever took it."""
    identity = user(request).identity
    if not may(identity, Action.HANDLE_REQUESTS):
        return None
    found: Handler | None = await _read(request, lambda session: handler_for(session, identity))
    if found is None and Role.ADMIN in identity.roles:
        found = Handler(openid="", name=user(request).name, unit_paths=("",))
    return found


def _acts(handler: Handler) -> bool:
    return bool(handler.openid)


def _rules(request: web.Request) -> RequestRules:
    return RequestRules.from_settings(settings(request), holidays=services(request).holidays)


def _say(request: web.Request) -> Callable[..., str]:
    texts = content(request)
    return lambda key, **values: texts.text(key, **values)


def _when(request: web.Request, at: datetime | None) -> str:
    if at is None:
        return ""
    return content(request).moment(at.astimezone(ZoneInfo(settings(request).timezone)))


def _label(request: web.Request, table: str, code: str) -> str:
    names = content(request).texts.get(table, {})
    return str(names.get(code, code)) if isinstance(names, dict) else code


def _age(request: web.Request, filed: datetime, now: datetime) -> str:
    minutes = max(0, int((now - filed).total_seconds() // 60))
    t = content(request).text
    if minutes >= 24 * 60:
        return t("console_requests_age_days", n=minutes // (24 * 60))
    if minutes >= 60:
        return t("console_requests_age_hours", n=minutes // 60)
    return t("console_requests_age_minutes", n=minutes)


# --- the board ----------------------------------------------------------------------------------------


async def board_page(request: web.Request) -> web.StreamResponse:
    handler = await _handler(request)
    if handler is None:
        return await refuse(request, 403, "console_forbidden")
    categories = [c.name for c in request_words().categories] + [request_words().other]
    categories = list(dict.fromkeys(categories))
    state = request.query.get("state", "")
    category = request.query.get("category", "")
    if (state and state not in BOARD_STATES) or (category and category not in categories):
        return await refuse(request, 404, "console_not_found")
    shown = (state,) if state else BOARD_STATES
    now = clock(request).now()
    if wants_xlsx(request):
        return await _export(request, handler, shown, category, now)
    page_no = _int(request.query.get("page"))

    def read(session: Session) -> list[tuple[str, list[Card], int]]:
        columns = []
        for code in shown:
            cards, total = board(
                session,
                now,
                handler,
                code,
                category=category or None,
                offset=(page_no - 1) * PAGE,
                limit=PAGE,
            )
            columns.append((code, cards, total))
        return columns

    columns = await _read(request, read)
    pages = max([1] + [-(-total // PAGE) for _, _, total in columns])
    query = {k: v for k, v in (("state", state), ("category", category)) if v}
    return await render(
        request,
        "request_board.html",
        columns=[
            {
                "state": code,
                "label": _label(request, "req_states", code),
                "total": total,
                "cards": [_card(request, card, now) for card in cards],
            }
            for code, cards, total in columns
        ],
        states=[(code, _label(request, "req_states", code)) for code in BOARD_STATES],
        categories=categories,
        state=state,
        category=category,
        page=page_no,
        pages=pages,
        query=urlencode(query),
        xlsx="?" + urlencode({**query, "format": "xlsx"}),
        scope_name=_scope_name(request, handler),
    )


def _scope_name(request: web.Request, handler: Handler) -> str:
    if "" in handler.unit_paths:
        return content(request).text("console_everything")
    return "、".join(path.rsplit("/", 1)[-1] for path in handler.unit_paths)


def _card(request: web.Request, card: Card, now: datetime) -> dict[str, Any]:
    return {
        "number": card.number,
        "href": f"/console/requests/{quote(card.number)}",
        "category": card.category,
        "place": card.place,
        "unit": card.unit_name,
        "age": _age(request, card.filed_at, now),
        "filed": _when(request, card.filed_at),
        "due": _when(request, card.due),
        "overdue": card.overdue,
        "urgent": card.urgent,
        "complex": card.complex,
        "taken_by": card.taken_by_name or "",
        "reporters": card.reporters,
    }


async def _export(
    request: web.Request, handler: Handler, shown: tuple[str, ...], category: str, now: datetime
) -> web.StreamResponse:
    """Every ticket of the filter (never the reporters' phones), audited."""

    def read(session: Session) -> list[Card]:
        found: list[Card] = []
        for code in shown:
            found += board(session, now, handler, code, category=category or None, limit=None)[0]
        return found

    cards: list[Card] = await _read(request, read)
    t = content(request).text
    header = [
        t(f"console_requests_col_{name}")
        for name in ("number", "state", "category", "place", "unit", "filed", "due", "overdue", "taker")
    ]
    cells = [
        [
            c.number,
            _label(request, "req_states", c.state),
            c.category,
            c.place,
            c.unit_name,
            _when(request, c.filed_at),
            _when(request, c.due),
            t("console_requests_overdue") if c.overdue else "",
            c.taken_by_name or "",
        ]
        for c in cards
    ]
    scope_path = "" if "" in handler.unit_paths else handler.unit_paths[0]
    return await xlsx_download(
        request,
        filename=t("console_requests_filename"),
        sheet=Sheet(t("console_nav_requests"), header, cells),
        action="export_requests",
        scope=scope_path,
        state=",".join(shown),
        category=category,
    )


# --- one ticket -------------------------------------------------------------------------------------------


async def _detail(request: web.Request, handler: Handler, number: str) -> Detail | None:
    """The ticket when the handler may handle it (its opening audited), else None."""
    now, vault, who = clock(request).now(), services(request).vault, user(request)

    def read(session: Session) -> Detail | None:
        try:
            found = ticket_detail(session, now, handler, number, vault=vault)
        except Refused:
            return None
        audit.record(
            session, now, who.actor, "view_request", found.unit_path, via="console", number=found.view.number
        )
        return found

    result: Detail | None = await services(request).db.run(read)
    return result


async def ticket_page(request: web.Request) -> web.StreamResponse:
    handler = await _handler(request)
    if handler is None:
        return await refuse(request, 403, "console_forbidden")
    found = await _detail(request, handler, request.match_info["number"])
    if found is None:
        return await refuse(request, 404, "console_not_found")
    view = found.view
    t = content(request).text
    message, alert = _outcome(request, view)
    revealed = None
    if request.query.get("phone"):
        session = await get_session(request)
        kept = session.pop(PHONE_KEY, None)
        if isinstance(kept, dict) and kept.get("number") == view.number:
            revealed = str(kept.get("text") or "")
    sources = content(request).texts.get("req_sources", {})
    steps = [
        {
            "at": _when(request, step.at),
            "kind": _label(request, "req_event_kinds", step.kind),
            "who": step.actor_name or "",
            "note": str(sources.get(step.note, step.note))
            if step.kind == "filed" and isinstance(sources, dict)
            else step.note,
        }
        for step in found.steps
    ]
    targets = await _read(request, transfer_targets)
    acts = _acts(handler)
    open_ = view.state in OPEN
    return await render(
        request,
        "request_ticket.html",
        d=found,
        v=view,
        state_label=_label(request, "req_states", view.state),
        filed=_when(request, view.filed_at),
        take_due=_when(request, view.take_due),
        solve_due=_when(request, view.solve_due),
        steps=steps,
        stored=[seq for seq, p, _ in found.photos if p],
        unstored=sum(1 for _, p, _ in found.photos if not p),
        message=message,
        alert=alert,
        revealed=revealed,
        acts=acts,
        may_take=acts and view.state == "new",
        may_work=acts and open_,
        may_complex=acts and open_ and not view.complex,
        may_phone=acts and found.taken_by_openid == handler.openid and view.phone_masked is not None,
        targets=[(path, name) for path, name in targets if path != found.unit_path],
        base=f"/console/requests/{quote(view.number)}",
        read_only=t("console_requests_read_only") if not acts else "",
        note_max=NOTE_MAX,
        complex_days=f"{_rules(request).solve_days_complex:g}",
    )


def _outcome(request: web.Request, view: TicketView) -> tuple[str, bool]:
    """The result of the last POST, from the redirect's query: (message, is it a refusal)."""
    t, q = content(request).text, request.query
    done = q.get("done", "")
    if done in VERBS:
        return t(f"console_requests_done_{done}", number=view.number, unit=view.unit_name), False
    verb = q.get("verb", "")
    if verb not in VERBS:
        return "", False
    if q.get("refused") in REASONS:
        reason = q["refused"]
        return (
            t(
                f"req_refused_{reason}",
                number=view.number,
                verb=t(f"req_verb_{verb}"),
                unit=q.get("unit", "")[:50],
            ),
            True,
        )
    if q.get("missing"):
        return t(f"console_requests_missing_{verb}"), True
    return "", False


def _acting(verb: str) -> Callable[[web.Request], Any]:
    async def act(request: web.Request) -> web.StreamResponse:
        return await _act(request, verb)

    return act


async def _act(request: web.Request, verb: str) -> web.StreamResponse:
    handler = await _handler(request)
    if handler is None or not _acts(handler):
        return await refuse(request, 403, "console_forbidden")
    number = request.match_info["number"]
    if await _detail_exists(request, handler, number) is None:
        return await refuse(request, 404, "console_not_found")
    form = await request.post()
    note = str(form.get("note", "")).strip()[:NOTE_MAX]
    unit = str(form.get("unit", "")).strip()
    base = f"/console/requests/{quote(number)}"
    if incomplete(verb, note, unit):
        raise web.HTTPSeeOther(f"{base}?{urlencode({'verb': verb, 'missing': 1})}")
    now, rules, say = clock(request).now(), _rules(request), _say(request)

    def done(s: Session) -> TicketView:
        return act(s, now, say, handler, number, verb, note=note, unit=unit, rules=rules)

    try:
        await services(request).db.run(done)
    except Refused as refused:
        query = {"verb": verb, "refused": refused.reason, "unit": unit}
        raise web.HTTPSeeOther(f"{base}?{urlencode(query)}") from None
    raise web.HTTPSeeOther(f"{base}?done={verb}")


async def _detail_exists(request: web.Request, handler: Handler, number: str) -> str | None:
    """The ticket's unit path when it is the handler's (no audit: the action is the domain's record)."""
    now = clock(request).now()

    def read(session: Session) -> str | None:
        try:
            return ticket_detail(session, now, handler, number).unit_path
        except Refused:
            return None

    found: str | None = await _read(request, read)
    return found


async def phone(request: web.Request) -> web.StreamResponse:
    """电话: the reporter's phone for whoever took the ticket (the domain audits the reading), shown once on
    the ticket's page."""
    handler = await _handler(request)
    if handler is None or not _acts(handler):
        return await refuse(request, 403, "console_forbidden")
    number = request.match_info["number"]
    if await _detail_exists(request, handler, number) is None:
        return await refuse(request, 404, "console_not_found")
    now, vault, t = clock(request).now(), services(request).vault, content(request).text
    try:
        found = await services(request).db.run(lambda s: reporter_phone(s, now, handler, number, vault=vault))
    except Refused as refused:
        key = "req_phone_not_taker" if refused.reason == "not_yours" else f"req_refused_{refused.reason}"
        text = t(key, number=number, verb=t("req_verb_view"), unit="")
    else:
        text = (
            t("req_phone_shown", number=number, phone=found) if found else t("req_phone_none", number=number)
        )
    session = await get_session(request)
    session[PHONE_KEY] = {"number": number, "text": text}
    raise web.HTTPSeeOther(f"/console/requests/{quote(number)}?phone=1")


async def photo(request: web.Request) -> web.StreamResponse:
    """A stored photo of a ticket in the handler's scope, from the data folder."""
    handler = await _handler(request)
    if handler is None:
        return await refuse(request, 403, "console_forbidden")
    number = request.match_info["number"]
    try:
        seq = int(request.match_info["seq"])
    except ValueError:
        return await refuse(request, 404, "console_not_found")
    now = clock(request).now()

    def read(session: Session) -> str | None:
        try:
            found = ticket_detail(session, now, handler, number)
        except Refused:
            return None
        return next((p for s, p, _ in found.photos if s == seq and p), None)

    relative: str | None = await _read(request, read)
    file = stored_file(Path(settings(request).data_dir), relative) if relative else None
    if file is None:
        return await refuse(request, 404, "console_not_found")
    return web.FileResponse(file, headers={"Content-Type": "image/jpeg"})


def stored_file(data_dir: Path, relative: str) -> Path | None:
    """A stored file inside the data folder (never a path that leads out of it)."""
    root = data_dir.resolve()
    file = (root / relative).resolve()
    return file if file.is_relative_to(root) and file.is_file() else None
