"""Rendering a console page: the template (Jinja2, bot/console/templates) with what every page shows — the
words from content/ (`t`), the user and the menu they may see, the CSRF token of the forms, the display
switch (large type, high contrast)."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import Session, get_session

from bot.console.deps import USER, User, content
from bot.domain.policy import Action, Identity, may, scope

# The menu: (route name, text key, the action that shows it).
NAV = (
    ("dashboard", "console_nav_dashboard", Action.USE_CONSOLE),
    ("members", "console_nav_members", Action.LIST_MEMBERS),
    ("announcements", "console_nav_announcements", Action.BROADCAST),
    ("requests", "console_nav_requests", Action.HANDLE_REQUESTS),
    ("theme-days", "console_nav_theme_days", Action.KEEP_RECORDS),
    ("dues", "console_nav_dues", Action.RECORD_DUES),
    ("mobile", "console_nav_mobile", Action.MANAGE_MOBILE),
    ("imports", "console_nav_imports", Action.IMPORT_DATA),
    ("audit", "console_nav_audit", Action.READ_AUDIT),
)


def csrf_token(session: Session) -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def role_name(request: web.Request, identity: Identity) -> str:
    return content(request).text(f"console_role_{identity.role}")


def nav(identity: Identity) -> list[tuple[str, str]]:
    return [
        (f"/console/{'' if name == 'dashboard' else name}", key)
        for name, key, action in NAV
        if may(identity, action)
        # 居民诉求: whose tickets are whose is bot.domain.requests' (a grid worker has no unit_path)
        and (scope(identity, action) is not None or action is Action.HANDLE_REQUESTS)
    ]


async def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    session = await get_session(request)
    who = request.get(USER)
    base: dict[str, Any] = {
        "t": content(request).text,
        "csrf": csrf_token(session),
        "large": bool(session.get("large")),
        "here": request.path_qs,
        "user": who,
        "role": role_name(request, who.identity) if isinstance(who, User) else "",
        "nav": nav(who.identity) if isinstance(who, User) else [],
    }
    base.update(context)
    response = aiohttp_jinja2.render_template(template, request, base, status=status)
    return response


async def refuse(request: web.Request, status: int, key: str) -> web.Response:
    """The error page: 403 (not theirs to see), 404 (no such thing in their scope), 403 (CSRF)."""
    return await render(request, "error.html", status=status, message_key=key)
