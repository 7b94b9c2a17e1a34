"""What every console module reads from a request: the parent app's services, content, settings and clock
(through the keys bot/app.py hands over, so nothing here imports bot.app), the session storage, and the
logged-in user."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

from bot.clock import Clock
from bot.console import dashboard
from bot.console.dashboard import SectionCache
from bot.console.sessions import DatabaseStorage
from bot.content import Content
from bot.domain import dues
from bot.domain.policy import Identity
from bot.services import Services
from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Wiring:
    """The parent application's keys for what the console uses."""

    services: web.AppKey[Services]
    content: web.AppKey[Content]
    settings: web.AppKey[Settings]
    clock: web.AppKey[Clock]


WIRING = web.AppKey("console_wiring", Wiring)
STORAGE = web.AppKey("console_storage", DatabaseStorage)
SECTIONS = web.AppKey("console_sections", SectionCache)  # the dashboard's per-process figures


@dataclass(frozen=True, slots=True)
class User:
    identity: Identity
    actor: str  # who, in the audit log
    name: str


# The logged-in User, set by the auth middleware.
USER: web.RequestKey[User] = web.RequestKey("console_user", User)


def services(request: web.Request) -> Services:
    return request.config_dict[request.config_dict[WIRING].services]


def content(request: web.Request) -> Content:
    return request.config_dict[request.config_dict[WIRING].content]


def settings(request: web.Request) -> Settings:
    return request.config_dict[request.config_dict[WIRING].settings]


def clock(request: web.Request) -> Clock:
    return request.config_dict[request.config_dict[WIRING].clock]


def user(request: web.Request) -> User:
    found = request.get(USER)
    if not isinstance(found, User):
        raise web.HTTPFound("/console/login")
    return found


def sections(request: web.Request) -> SectionCache:
    return request.config_dict[SECTIONS]


def options_of(request: web.Request) -> dashboard.Options:
    s = settings(request)
    return dashboard.Options(s.dues_start_month, s.timezone, s.dues_rounding)


def start_warming(request: web.Request) -> None:
    """Count this month's dashboard figures in the background, once a process (PARTYBOT_CONSOLE_WARM):
    called by the login page, so a secretary's first dashboard is ready when the login is."""
    cache = sections(request)
    if cache.warming is not None or not settings(request).console_warm:
        return
    now = clock(request).now()
    db, month = services(request).db, dues.local_month(now, settings(request).timezone)
    options = options_of(request)

    async def run() -> None:
        try:
            await db.survey(lambda session: dashboard.warm(session, cache, month, options, now))
        except Exception:  # the first view counts it instead
            log.exception("the dashboard's warm-up failed")

    cache.warming = asyncio.get_running_loop().create_task(run())


async def warmed(request: web.Request, unit_path: str) -> None:
    """A view of a whole tree (a root unit, or every unit) asked for while the warm-up still counts waits
    for it instead of counting the same figures a second time beside it; a smaller scope does not wait
    (a community's own count is quicker than a city's, and it is counted apart while the warm-up runs)."""
    if "/" not in unit_path:
        await _finish_warming(sections(request), 60)


async def stop_warming(app: web.Application) -> None:
    """On shutdown: a warm-up still counting is waited for (its database goes away next)."""
    await _finish_warming(app[SECTIONS], 30)


async def _finish_warming(cache: SectionCache, timeout: float) -> None:
    if cache.warming is not None and not cache.warming.done():
        await asyncio.wait([cache.warming], timeout=timeout)
