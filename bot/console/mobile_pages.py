"""The console's 流动党员: the mobile members (流出) of the user's MANAGE_MOBILE scope with the month's
report-in (reported or not, the last report as chat's list shows it: the district and the words, never a
coordinate), and the 流入 entries waiting for 流入确认 (phones masked) — the same rows as chat's 流动党员
list (bot.domain.mobile), audited like it; XLSX of the same rows (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.orm import Session

from bot.console.deps import clock, content, services, user
from bot.console.export import wants_xlsx, xlsx_download
from bot.console.pages import refuse, render
from bot.console.views import _int, _month, _months
from bot.domain import audit
from bot.domain.dues import month_label
from bot.domain.mobile import (
    MobileMember,
    Outcome,
    decide_incoming,
    incoming,
    mobile_members,
    reported_months,
)
from bot.domain.places import path_key
from bot.domain.policy import Action, scope
from bot.domain.privacy import Vault, mask_phone
from bot.workbook import Sheet

PAGE = 50


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/mobile", mobile_page, name="mobile")
    router.add_post("/mobile/incoming", decide, name="mobile_incoming")


@dataclass(frozen=True, slots=True)
class Row:
    number: str
    name: str
    unit: str
    destination: str
    reported: bool
    last_month: str | None
    last: str  # the last report's district and words, as chat's list shows them


@dataclass(frozen=True, slots=True)
class Guest:
    name: str
    phone: str
    home_org: str
    place: str
    unit: str
    status: str


@dataclass(frozen=True, slots=True)
class Month:
    rows: list[Row]
    guests: list[Guest]
    numbers: list[str]
    guest_ids: list[int]


def _read(session: Session, where: str, month: str, vault: Vault | None, unregistered: str) -> Month:
    members: list[MobileMember] = mobile_members(session, where)
    members.sort(key=lambda m: (path_key(m.unit_path), m.number))
    done = reported_months(session, [m.member_id for m in members], [month])
    rows = [
        Row(
            number=m.number,
            name=m.name,
            unit=m.unit_path.rsplit("/", 1)[-1],
            destination=m.destination,
            reported=(m.member_id, month) in done,
            last_month=m.last.month if m.last else None,
            last=" ".join(part for part in (m.last.place, m.last.text) if part) if m.last else "",
        )
        for m in members
    ]
    found = incoming(session, where)
    guests = [
        Guest(
            name=entry.name,
            phone=mask_phone(vault.decrypt_phone(entry.phone_enc) if vault else None, unregistered),
            home_org=entry.home_org,
            place=entry.place,
            unit=unit,
            status=entry.status,
        )
        for entry, unit in found
    ]
    return Month(rows, guests, [m.number for m in members], [e.id for e, _ in found])


async def mobile_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = scope(who.identity, Action.MANAGE_MOBILE)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    month = _month(request)
    if month is None:
        return await refuse(request, 404, "console_not_found")
    t = content(request).text
    vault, now = services(request).vault, clock(request).now()
    unregistered = t("phone_unregistered")
    xlsx = wants_xlsx(request)

    def read(session: Session) -> Month:
        found = _read(session, where, month, vault, unregistered)
        if not xlsx:  # as chat's 流动党员 list (the export is audited by xlsx_download)
            audit.record(
                session, now, who.actor, "list_mobile_members", where,
                via="console", members=found.numbers, incoming=found.guest_ids,
            )  # fmt: skip
        return found

    found = await services(request).db.run(read)
    if xlsx:
        return await _export(request, where, month, found)
    page_no = _int(request.query.get("page"))
    shown = found.rows[(page_no - 1) * PAGE : page_no * PAGE]
    return await render(
        request,
        "mobile_list.html",
        said=_said(request),
        rows=[_row(request, row) for row in shown],
        total=len(found.rows),
        reported=sum(1 for row in found.rows if row.reported),
        missing=[row.name for row in found.rows if not row.reported],
        guests=[_guest(request, g) for g in found.guests],
        pending=sum(1 for g in found.guests if g.status == "pending"),
        page=page_no,
        pages=max(1, -(-len(found.rows) // PAGE)),
        month=month,
        months=_months(month),
        month_name=month_label(month),
        unit_name=where.rsplit("/", 1)[-1] if where else t("console_everything"),
        xlsx="?" + urlencode({"month": month, "format": "xlsx"}),
    )


async def decide(request: web.Request) -> web.StreamResponse:
    """流入确认 / 流入退回 from the page (chat's commands, the same domain function): a 流入 registration
    waiting in the user's scope is confirmed, or returned with the reason; the person is told as in chat."""
    who = user(request)
    where = scope(who.identity, Action.MANAGE_MOBILE)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    form = await request.post()
    name = str(form.get("name", "")).strip()[:50]
    returning = form.get("decision") == "return"
    reason = str(form.get("reason", "")).strip()[:200] if returning else None
    if not name or (returning and not reason):
        raise web.HTTPSeeOther("/console/mobile?" + urlencode({"missing": 1, "name": name}))
    t, now = content(request).text, clock(request).now()
    notice = (
        t("mobile_incoming_returned_notice", reason=reason)
        if reason is not None
        else t("mobile_incoming_confirmed_notice")
    )
    done = await services(request).db.run(
        lambda session: decide_incoming(session, where, name, who.actor, now, notice=notice, reason=reason)
    )
    if done.outcome is not Outcome.DONE:
        raise web.HTTPSeeOther("/console/mobile?" + urlencode({"none": 1, "name": name}))
    if reason is None and done.openid:
        services(request).identities.invalidate(done.openid)  # a member now: their menu changes at once
    outcome = "returned" if reason is not None else "confirmed"
    raise web.HTTPSeeOther("/console/mobile?" + urlencode({outcome: 1, "name": name}))


def _said(request: web.Request) -> str | None:
    """The answer to the last 确认 / 退回, in chat's words."""
    t, name = content(request).text, request.query.get("name", "")[:50]
    for flag, key in (
        ("confirmed", "mobile_incoming_confirmed"),
        ("returned", "mobile_incoming_returned"),
        ("none", "mobile_incoming_none"),
        ("missing", "console_mobile_incoming_missing"),
    ):
        if request.query.get(flag):
            return t(key, name=name)
    return None


def _row(request: web.Request, row: Row) -> dict[str, Any]:
    t = content(request).text
    return {
        "number": row.number,
        "name": row.name,
        "unit": row.unit,
        "destination": row.destination or "—",
        "reported": row.reported,
        "status": t("console_mobile_reported") if row.reported else t("console_mobile_not_reported"),
        "last": t("console_mobile_last", month=month_label(row.last_month), what=row.last or "—")
        if row.last_month
        else t("mobile_list_never"),
    }


def _guest(request: web.Request, guest: Guest) -> dict[str, Any]:
    return {
        "name": guest.name,
        "phone": guest.phone,
        "home_org": guest.home_org,
        "place": guest.place,
        "unit": guest.unit,
        "pending": guest.status == "pending",
        "status": content(request).text(f"console_mobile_incoming_{guest.status}", name=guest.name),
    }


async def _export(request: web.Request, where: str, month: str, found: Month) -> web.StreamResponse:
    t = content(request).text
    header = [
        t(f"console_mobile_col_{name}")
        for name in ("number", "name", "unit", "destination", "status", "last")
    ]
    cells = [
        [r["number"], r["name"], r["unit"], r["destination"], r["status"], r["last"]]
        for r in (_row(request, row) for row in found.rows)
    ]
    return await xlsx_download(
        request,
        filename=t("console_mobile_filename", month=month),
        sheet=Sheet(t("console_nav_mobile"), header, cells),
        action="export_mobile_members",
        scope=where,
        month=month,
    )
