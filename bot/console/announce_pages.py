"""通知公告 in the console: the announcements a secretary's scope covers, composing one, its preview (the
audience exactly as chat's `公告` shows it), confirming it, and its status (chat's `公告状态`). Every rule is
bot.outbound.announcements' and bot.outbound.notices' — the same functions handlers/announce.py calls.

Confirming is once only: the preview puts a one-time token in the console session (bound to a hash of what
was previewed); the confirm marks it used, with the new notice's id, in the same database transaction that
writes the notice, with the session's row locked (PostgreSQL; SQLite has one writer). Pressing confirm
twice, or reloading, finds the token used and goes to the notice already made."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp_session import Session, get_session
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from bot.console import sessions
from bot.console.deps import User, clock, content, services, settings, user
from bot.console.export import wants_xlsx, xlsx_download
from bot.console.pages import refuse, render
from bot.console.views import _int
from bot.domain import audit
from bot.domain.places import path_key
from bot.domain.policy import within
from bot.outbound.announcements import (
    NARROWING,
    NoticeRow,
    TextProblem,
    announcement_preview,
    author_of,
    broadcast_scope,
    failed_reasons,
    full_text,
    local_when,
    may_see,
    notice_page,
    preview_words,
    relay_words,
    status_words,
    text_problem,
    too_long_words,
    unit_choices,
)
from bot.outbound.notices import (
    Audience,
    AudienceKind,
    Preview,
    add_announcement,
    kind_label,
    report,
    unit_name,
)
from bot.workbook import Sheet
from models import ConsoleSession, OrgUnit

TOKENS = "announce_tokens"  # the session's one-time confirm tokens: [token, digest, notice id or None]
KEEP_TOKENS = 5
MAX_BODY = 5000  # what the form takes at all; the real limit is the chat's (MAX_PARTS messages)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/announcements", list_page, name="announcements")
    router.add_get("/announcements/new", new_page, name="announcement_new")
    router.add_post("/announcements/preview", preview_page, name="announcement_preview")
    router.add_post("/announcements/confirm", confirm, name="announcement_confirm")
    router.add_get(r"/announcements/{id:\d+}", status_page, name="announcement")


def _where(who: User) -> str | None:
    return broadcast_scope(who.identity)


def _openid(who: User) -> str | None:
    return who.identity.openid or None


# --- the list ------------------------------------------------------------------------------------------


def sender_words(request: web.Request, row: NoticeRow) -> str:
    if row.sender:
        return row.sender
    key = "console_announce_sender_cli" if row.author.startswith("cli:") else "console_announce_sender_admin"
    return content(request).text(key)


async def list_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = _where(who)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    xlsx = wants_xlsx(request)
    page_no = 1 if xlsx else _int(request.query.get("page"))
    size = 100_000 if xlsx else 50
    openid = _openid(who)
    page = await services(request).db.run(lambda s: notice_page(s, where, openid, page_no, size))
    tz = settings(request).timezone
    rows = [
        {
            "id": r.id,
            "when": f"{r.created_at.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}",
            "sender": sender_words(request, r),
            "label": r.label,
            "text": r.text,
            "recipients": r.recipients,
            "reached": r.reached,
        }
        for r in page.rows
    ]
    if xlsx:
        say = content(request).text
        sheet = Sheet(
            title=say("console_announce_heading"),
            header=[
                say("console_announce_col_when"),
                say("console_announce_col_sender"),
                say("console_announce_col_audience"),
                say("console_announce_col_text"),
                say("console_announce_col_total"),
                say("console_announce_col_reached"),
            ],
            cells=[
                [r["when"], r["sender"], r["label"], r["text"], r["recipients"], r["reached"]] for r in rows
            ],
            wrap=True,
        )
        return await xlsx_download(
            request,
            filename=say("console_announce_filename"),
            sheet=sheet,
            action="export_announcements",
            scope=where,
        )
    return await render(request, "announce_list.html", page=page, rows=rows)


# --- composing and the preview ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    text: str
    unit: str
    kind: AudienceKind


async def _units(request: web.Request, where: str) -> list[tuple[str, str]]:
    """(path, name) of the units one may send to, in the tree's order."""
    paths = sorted(await unit_choices(services(request).db, where), key=path_key)
    async with services(request).db.read() as session:
        return [(path, await unit_name(session, path, content(request))) for path in paths]


def _kinds(request: web.Request) -> list[tuple[str, str]]:
    say = content(request)
    return [(k.value, kind_label(say, k)) for k in (AudienceKind.ALL, *NARROWING)]


async def _compose(
    request: web.Request, where: str, draft: Draft, error: str | None = None, status: int = 200
) -> web.Response:
    return await render(
        request,
        "announce_new.html",
        status=status,
        units=await _units(request, where),
        kinds=_kinds(request),
        draft=draft,
        error=error,
    )


async def new_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = _where(who)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    return await _compose(request, where, Draft("", where, AudienceKind.ALL))


async def _draft(request: web.Request, where: str) -> Draft | web.Response:
    """The form's text, unit and audience; a unit outside the sender's scope is refused (403), one that
    does not exist is not found (404)."""
    form = await request.post()
    text = str(form.get("text") or "").replace("\r\n", "\n").replace("\r", "\n").strip()[:MAX_BODY]
    unit = str(form.get("unit") or "").strip()
    try:
        kind = AudienceKind(str(form.get("audience") or AudienceKind.ALL.value))
    except ValueError:
        return await refuse(request, 404, "console_not_found")
    if not within(unit, where):
        return await refuse(request, 403, "console_forbidden")
    if unit:
        async with services(request).db.read() as session:
            found = await session.scalar(
                select(OrgUnit.id).where(OrgUnit.path == unit, OrgUnit.active.is_(True))
            )
        if found is None:
            return await refuse(request, 404, "console_not_found")
    return Draft(text, unit, kind)


def _digest(draft: Draft) -> str:
    return hashlib.sha256(f"{draft.unit}\0{draft.kind.value}\0{draft.text}".encode()).hexdigest()


def _tokens(session: Session | dict[str, Any]) -> list[list[Any]]:
    found = session.get(TOKENS)
    return [list(entry) for entry in found if isinstance(entry, list) and len(entry) == 3] if found else []


async def _preview(request: web.Request, who: User, where: str, draft: Draft) -> tuple[Preview, str]:
    db, say = services(request).db, content(request)
    found = await announcement_preview(
        db,
        say,
        settings(request),
        clock(request).now(),
        where=where,
        audience=Audience(draft.unit, draft.kind),
        body=draft.text,
        sender=who.identity.member_id,
    )
    return found, await full_text(db, say, where, draft.text)


async def _show_preview(
    request: web.Request, who: User, where: str, draft: Draft, notice: str | None = None
) -> web.Response:
    say = content(request)
    full = await full_text(services(request).db, say, where, draft.text)
    problem = text_problem(draft.text, full)
    if problem is TextProblem.EMPTY:
        return await _compose(request, where, draft, say.text("console_announce_empty"), 400)
    if problem is TextProblem.TOO_LONG:
        return await _compose(request, where, draft, too_long_words(say, draft.text), 400)
    found, full = await _preview(request, who, where, draft)
    token = ""
    if found.recipients:
        token = secrets.token_urlsafe(18)
        session = await get_session(request)
        session[TOKENS] = [*_tokens(session), [token, _digest(draft), None]][-KEEP_TOKENS:]
    return await render(
        request,
        "announce_preview.html",
        draft=draft,
        found=found,
        words=preview_words(say, settings(request), found),
        full=full,
        token=token,
        notice=notice,
    )


async def preview_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = _where(who)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    draft = await _draft(request, where)
    if isinstance(draft, web.Response):
        return draft
    if (await request.post()).get("edit"):  # 修改: back to the form, the text kept
        return await _compose(request, where, draft)
    return await _show_preview(request, who, where, draft)


# --- confirming, once -----------------------------------------------------------------------------------


async def confirm(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = _where(who)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    draft = await _draft(request, where)
    if isinstance(draft, web.Response):
        return draft
    token = str((await request.post()).get("token") or "")
    session = await get_session(request)
    entry = next((e for e in _tokens(session) if e[0] == token), None)
    if entry is not None and isinstance(entry[2], int):  # already sent: pressed twice, or reloaded
        raise web.HTTPSeeOther(f"/console/announcements/{entry[2]}")
    if entry is None or entry[1] != _digest(draft) or session.identity is None:
        say = content(request).text
        return await _show_preview(request, who, where, draft, say("console_announce_again"))
    found, full = await _preview(request, who, where, draft)
    if not found.recipients:
        return await _show_preview(request, who, where, draft)
    key, now = sessions._key(str(session.identity)), clock(request).now()
    audience, author = Audience(draft.unit, draft.kind), author_of(who.identity, who.actor)

    def write(db: DbSession) -> tuple[int, list[list[Any]]] | None:
        row = db.get(ConsoleSession, key, with_for_update=True)
        if row is None:
            return None
        kept = _tokens(row.data)
        mine = next((e for e in kept if e[0] == token), None)
        if mine is None:
            return None
        if not isinstance(mine[2], int):
            mine[2] = add_announcement(
                db,
                now,
                audience,
                found.recipients,
                text=full,
                label=found.label,
                author=author,
                author_openid=_openid(who),
            )
            row.data = {**row.data, TOKENS: kept}
        return int(mine[2]), kept

    done = await services(request).db.run(write)
    if done is None:
        return await _show_preview(
            request, who, where, draft, content(request).text("console_announce_again")
        )
    notice_id, kept = done
    session[TOKENS] = kept  # what the request saves at its end agrees with what the transaction wrote
    raise web.HTTPSeeOther(f"/console/announcements/{notice_id}?sent=1")


# --- one notice's status ----------------------------------------------------------------------------------


async def status_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = _where(who)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    notice_id = int(request.match_info["id"])
    db, now = services(request).db, clock(request).now()

    def seen(session: DbSession) -> bool:
        """In their scope (or their own); the read is audited: the status names unreached members."""
        if not may_see(session, notice_id, where, _openid(who)):
            return False
        audit.record(session, now, who.actor, "view_announcement", where, via="console", notice=notice_id)
        return True

    item = await report(db, notice_id) if await db.run(seen) else None
    if item is None:
        return await refuse(request, 404, "console_not_found")
    say, tz = content(request), settings(request).timezone
    channels = [
        (say.text(f"channel_{c}") if f"channel_{c}" in say.texts else c, n)
        for c, n in item.by_channel.most_common()
        if c
    ]
    return await render(
        request,
        "announce_status.html",
        item=item,
        notice=item.notice,
        status_line=status_words(say, item, tz),
        when=local_when(say, item.notice.created_at, tz),
        channels=channels,
        relayed=[relay_words(say, *r) for r in item.relayed],
        reasons=failed_reasons(say, item),
        sent=bool(request.query.get("sent")),
    )
