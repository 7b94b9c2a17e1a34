"""The console's pages for logged-in staff: the dashboard (a unit in scope and a month), the members of
their subtree (searched, paged, phones masked) and one member (an audited read)."""

from __future__ import annotations

import re

from aiohttp import web
from sqlalchemy import select

from bot.console import dashboard
from bot.console.deps import clock, options_of, sections, services, settings, user, warmed
from bot.console.pages import refuse, render
from bot.domain import dues, member_list
from bot.domain.policy import Action, scope, within
from models import OrgUnit

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _month(request: web.Request) -> str | None:
    wanted = request.query.get("month", "").strip()
    if not wanted:
        return dues.local_month(clock(request).now(), settings(request).timezone)
    return wanted if MONTH.match(wanted) else None


def _int(value: str | None, default: int = 1) -> int:
    try:
        return max(1, int(value or default))
    except ValueError:
        return default


async def dashboard_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    home = dashboard.home_of(who.identity)
    month = _month(request)
    if month is None:
        return await refuse(request, 404, "console_not_found")
    if home is None:
        return await render(request, "dashboard.html", view=None, month=month, months=_months(month))
    unit = request.query.get("unit", home).strip().strip("/")
    if not dashboard.allowed(who.identity, unit):
        return await refuse(request, 403, "console_forbidden")
    db = services(request).db
    if unit:
        async with db.read() as session:
            if await session.scalar(select(OrgUnit.id).where(OrgUnit.path == unit)) is None:
                return await refuse(request, 404, "console_not_found")
    options = options_of(request)
    cache = sections(request)
    await warmed(request, unit)
    now = clock(request).now()
    view = await db.survey(
        lambda session: dashboard.month_view(session, cache, who.identity, unit, month, options, now)
    )
    return await render(request, "dashboard.html", view=view, month=month, months=_months(month))


def _months(month: str) -> list[str]:
    """The month picker: the twelve months up to the one shown."""
    return [dues.add_months(month, -n) for n in range(12)]


async def members_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = scope(who.identity, Action.LIST_MEMBERS)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    query = request.query.get("q", "").strip()[:50]
    page_no = _int(request.query.get("page"))
    vault = services(request).vault
    page = await services(request).db.run(
        lambda session: member_list.search(session, where, vault, query, page_no)
    )
    unit_name = where.rsplit("/", 1)[-1] if where else ""
    return await render(request, "members.html", page=page, q=query, unit_name=unit_name)


async def member_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = scope(who.identity, Action.LIST_MEMBERS)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    number = request.match_info["number"]
    vault, now = services(request).vault, clock(request).now()
    card = await services(request).db.run(
        lambda session: member_list.open_member(session, where, number, vault, actor=who.actor, now=now)
    )
    if card is None or not within(card.unit_path, where):
        return await refuse(request, 404, "console_not_found")
    return await render(request, "member.html", card=card)
