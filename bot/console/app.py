"""The console's sub-application, mounted at /console by bot/app.py when PARTYBOT_CONSOLE is on.

Middlewares, outermost first: security headers (CSP without inline script, no framing, no caching of
pages) → aiohttp-session (bot.console.sessions, in the database) → CSRF on every POST → login required
except on the login pages and the static files. Templates (Jinja2, autoescaped) and the one stylesheet and
one script are in the package."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import session_middleware

from bot.console import (
    announce_pages,
    audit_pages,
    auth,
    charts,
    dues_pages,
    import_pages,
    mobile_pages,
    request_pages,
    theme_pages,
    views,
)
from bot.console.dashboard import SectionCache
from bot.console.deps import SECTIONS, STORAGE, WIRING, Wiring, clock, services, stop_warming
from bot.console.sessions import DatabaseStorage
from bot.domain import dues

HERE = Path(__file__).resolve().parent
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@web.middleware
async def headers_middleware(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/console/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def console_app(wiring: Wiring, *, secure_cookies: bool = False) -> web.Application:
    storage = DatabaseStorage(lambda r: services(r).db, clock, secure=secure_cookies)
    app = web.Application(
        middlewares=[
            headers_middleware,
            session_middleware(storage),
            import_pages.upload_limit,  # the upload forms' larger body limit, before CSRF reads the body
            auth.csrf_middleware,
            auth.auth_middleware,
        ]
    )
    app[WIRING] = wiring
    app[STORAGE] = storage
    app[SECTIONS] = SectionCache()
    app.on_cleanup.append(stop_warming)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    env.globals["month_label"] = dues.month_label
    env.filters["percent"] = _percent
    app.router.add_get("", _home, name="bare")  # /console → /console/
    app.router.add_get("/", views.dashboard_page, name="dashboard")
    charts.add_routes(app.router)  # the dashboard's trend charts (SVG)
    app.router.add_get("/members", views.members_page, name="members")
    app.router.add_get("/members/{number}", views.member_page, name="member")
    for pages in (
        announce_pages,
        request_pages,
        theme_pages,
        dues_pages,
        mobile_pages,
        import_pages,
        audit_pages,
    ):
        pages.add_routes(app.router)
    app.router.add_get("/login", auth.login_page, name="login")
    app.router.add_get("/login/status", auth.login_status, name="login_status")
    app.router.add_post("/login/password", auth.password_login, name="password_login")
    app.router.add_post("/logout", auth.logout, name="logout")
    app.router.add_post("/display", auth.display, name="display")
    app.router.add_static("/static/", HERE / "static", name="static")
    return app


async def _home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(auth.HOME)


def _percent(rate: float | None, none: str = "—") -> str:
    if rate is None:
        return none
    return f"{rate * 100:.1f}".rstrip("0").rstrip(".") + "%"
