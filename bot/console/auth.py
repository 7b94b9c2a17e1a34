"""Who is using the console: the chat-code login, the administrators' password login, 退出, the CSRF check
of every form and the middleware that sends anyone not logged in to the login page.

The login page puts a nonce in its (anonymous) session and shows the code bot.domain.console issued for
it; `登录 4821` in chat (handlers/console_login.py) confirms it; the page's poll (`/console/login/status`,
JavaScript) or a reload then takes the login into a new session (bot.console.sessions.rotate). Who is
logged in is read again on every request (a roster change or an unbinding takes effect at once)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import segno
from aiohttp import web
from aiohttp_session import Session, get_session
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from bot.console import sessions
from bot.console.deps import STORAGE, USER, User, clock, services, settings, start_warming
from bot.console.pages import csrf_token, refuse, render
from bot.domain import console as login
from bot.domain.audit import actor_for
from bot.domain.console import Checked, Taken
from bot.domain.policy import Action, Identity, Role, may
from models import Admin

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Reachable without logging in: the login page, its poll, the password form, the display switch, files.
PUBLIC = frozenset({"/console/login", "/console/login/status", "/console/login/password", "/console/display"})
HOME = "/console/"


# --- who is logged in --------------------------------------------------------------------------------


async def current_user(request: web.Request, session: Session) -> User | None:
    who = session.get("who")
    if not isinstance(who, dict):
        return None
    svc = services(request)
    identity: Identity | None = None
    actor = ""
    if isinstance(who.get("openid"), str):
        identity = await svc.identities.lookup(who["openid"])
    elif isinstance(who.get("admin_id"), int):
        admin_id = int(who["admin_id"])
        async with svc.db.read() as db_session:
            admin = await db_session.get(Admin, admin_id)
        if admin is not None:
            if admin.openid:
                identity = await svc.identities.lookup(admin.openid)
            else:
                identity = Identity(openid="", roles=frozenset({Role.ADMIN}), name=admin.name)
            actor = f"console-admin:{admin_id}"
    if identity is None or not may(identity, Action.USE_CONSOLE):
        return None
    name = identity.name or ""
    if not name and Role.ADMIN in identity.roles:  # an administrator is no roster entry: their admin name
        async with svc.db.read() as db_session:
            query = select(Admin.name)
            query = (
                query.where(Admin.id == who["admin_id"])
                if "admin_id" in who
                else query.where(Admin.openid == identity.openid)
            )
            name = str(await db_session.scalar(query) or "")
    if identity.member_number is not None:
        actor = actor_for(member_number=identity.member_number)
    elif not actor:  # by chat; a password login stays console-admin:<id>
        actor = actor_for(openid=identity.openid)
    return User(identity=identity, actor=actor, name=name)


async def _log_in(request: web.Request, who: dict[str, Any]) -> Session:
    fresh = await sessions.rotate(request, request.config_dict[STORAGE])
    fresh["who"] = who
    csrf_token(fresh)
    return fresh


# --- middlewares ---------------------------------------------------------------------------------------


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every POST carries the session's token in `_csrf` (a hidden field of every form)."""
    if request.method == "POST":
        session = await get_session(request)
        form = await request.post()
        sent, kept = form.get("_csrf"), session.get("csrf")
        if not (isinstance(sent, str) and isinstance(kept, str) and hmac.compare_digest(sent, kept)):
            return await refuse(request, 403, "console_csrf")
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC or request.path == "/console" or request.path.startswith("/console/static/"):
        return await handler(request)
    session = await get_session(request)
    found = await current_user(request, session)
    if found is None:
        if "who" in session:
            session.invalidate()
        raise web.HTTPFound("/console/login")
    request[USER] = found
    return await handler(request)


# --- the login page -------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    if await current_user(request, session) is not None:
        raise web.HTTPFound(HOME)
    session.pop("who", None)  # someone whose rights ended since
    start_warming(request)  # the dashboard's figures, counted while they log in
    now = clock(request).now()
    old_nonce = session.get("nonce")
    nonce = old_nonce if isinstance(old_nonce, str) else None

    def step(db: DbSession) -> tuple[login.TakeResult | None, str, str, datetime]:
        taken = login.take_login(db, nonce, now) if nonce else None
        if taken is not None and taken.state is Taken.LOGGED_IN:
            return taken, "", "", now
        row = login.current_code(db, nonce, now) if nonce else None
        used = nonce or ""
        if row is None:
            used = login.new_nonce()
            sessions.prune(db, now)
            row = login.issue_code(db, used, now)
        return taken, used, row.code, row.expires_at

    try:
        taken, used, code, expires_at = await services(request).db.run(step)
    except login.ConsoleError as exc:
        return await render(request, "login.html", status=503, code=None, notice=exc.reason)
    if taken is not None and taken.state is Taken.LOGGED_IN and taken.openid:
        await _log_in(request, {"openid": taken.openid})
        raise web.HTTPFound(HOME)
    if used != nonce:
        session["nonce"] = used
    qr = await _login_qr(request, session, used, expires_at - now)
    notice = None
    if request.get(sessions.EXPIRED):
        notice = "console_login_timed_out"
    elif request.query.get("bye"):
        notice = "console_logged_out"
    elif nonce is not None and used != nonce:
        notice = "console_login_expired"
    return await render(
        request, "login.html", code=code, expires_at=expires_at.isoformat(), notice=notice, error=None, qr=qr
    )


async def _login_qr(request: web.Request, session: Session, nonce: str, left: timedelta) -> str | None:
    """On an account that may make parametric QR codes (a verified service account): the code's QR code,
    holding the page's nonce, drawn here from the address WeChat gives (an SVG data URI: the page loads
    nothing from elsewhere). Made once per code; None on other accounts or when WeChat refused."""
    kept = session.get("qr")
    if isinstance(kept, list) and len(kept) == 2 and kept[0] == login.nonce_hash(nonce):
        return str(kept[1])
    made = await services(request).qr_code(login.login_scene(nonce), int(left.total_seconds()) + 1)
    if made is None:
        return None
    image = str(segno.make(made.url, error="m").svg_data_uri(scale=6, border=2))
    session["qr"] = [login.nonce_hash(nonce), image]
    return image


async def login_status(request: web.Request) -> web.StreamResponse:
    """The login page's poll: waiting, expired (reload for a new code) or logged in (go on)."""
    session = await get_session(request)
    nonce = session.get("nonce")
    if not isinstance(nonce, str):
        return web.json_response({"state": Taken.EXPIRED.value})
    now = clock(request).now()
    taken = await services(request).db.run(lambda db: login.take_login(db, nonce, now))
    if taken.state is Taken.LOGGED_IN and taken.openid:
        await _log_in(request, {"openid": taken.openid})
        return web.json_response({"state": taken.state.value, "next": HOME})
    return web.json_response({"state": taken.state.value})


async def password_login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("name") or "").strip(), str(form.get("password") or "")
    now = clock(request).now()
    try:
        result = await services(request).db.run(lambda db: login.check_password(db, name, password, now))
    except IntegrityError:  # a parallel first attempt on the same name: nothing was checked
        result = login.PasswordResult(Checked.WRONG)
    if result.outcome is Checked.OK and result.admin_id is not None:
        await _log_in(request, {"admin_id": result.admin_id})
        raise web.HTTPFound(HOME)
    error: tuple[str, dict[str, Any]] = ("console_password_wrong", {})
    if result.outcome is Checked.LOCKED and result.locked_until is not None:
        until = result.locked_until.astimezone(ZoneInfo(settings(request).timezone))
        error = ("console_password_locked", {"count": login.MAX_FAILURES, "until": f"{until:%H:%M}"})
    session = await get_session(request)
    nonce = session.get("nonce")
    row = None
    if isinstance(nonce, str):
        row = await services(request).db.run(lambda db: login.current_code(db, nonce, now))
    return await render(
        request,
        "login.html",
        status=401,
        code=row.code if row else None,
        expires_at=row.expires_at.isoformat() if row else "",
        notice=None,
        error=error,
        name=name,
    )


async def logout(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    session.invalidate()
    raise web.HTTPFound("/console/login?bye=1")


async def display(request: web.Request) -> web.StreamResponse:
    """The large-type / high-contrast switch (a form, no script): kept in the session."""
    session = await get_session(request)
    session["large"] = not session.get("large")
    form = await request.post()
    back = str(form.get("next") or HOME)
    if not back.startswith("/console") or back.startswith("//"):
        back = HOME
    raise web.HTTPFound(back)
