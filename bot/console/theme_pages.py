"""The console's 主题党日 and other meetings (组织生活): the month's events of the user's KEEP_RECORDS scope
with their answers (参加 / 请假 / 未回复), attendance and whether a record (纪实) is kept; one event with its
invitations, attendance list, record and photos (an audited read); the month as XLSX (the same rows as
`partybot themeday report`: bot.domain.records.month_report)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.orm import Session

from bot.console.deps import clock, content, services, settings, user
from bot.console.export import wants_xlsx, xlsx_download
from bot.console.pages import refuse, render
from bot.console.request_pages import stored_file
from bot.console.views import _int, _month, _months
from bot.domain import audit
from bot.domain.policy import Action, scope
from bot.domain.records import EventRow, PhotoRow, event_report, month_report
from bot.domain.theme_day import Answers, answers
from bot.workbook import Sheet

PAGE = 50


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/theme-days", month_page, name="theme-days")
    router.add_get("/theme-days/{id}", event_page, name="theme-day")
    router.add_get("/theme-days/{id}/photos/{seq}", photo, name="theme-day-photo")


async def _read(request: web.Request, fn: Callable[[Session], Any]) -> Any:
    async with services(request).db.read() as session:
        return await session.run_sync(fn)


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(settings(request).timezone)


def _when(request: web.Request, at: datetime | None) -> str:
    return content(request).moment(at.astimezone(_zone(request))) if at is not None else ""


def _names(request: web.Request, table: str) -> dict[str, str]:
    found = content(request).texts.get(table, {})
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _percent(rate: float, invited: int) -> str:
    return f"{rate * 100:.0f}%" if invited else "—"


def _event(request: web.Request, row: EventRow, said: Answers) -> dict[str, Any]:
    kinds = _names(request, "event_kinds")
    return {
        "id": row.event_id,
        "href": f"/console/theme-days/{row.event_id}",
        "when": _when(request, row.starts_at),
        "unit": row.unit_name,
        "kind": kinds.get(row.kind, row.kind),
        "topic": row.topic,
        "place": row.place,
        "yes": [name for _, name in said.yes],
        "leave": [(name, reason) for _, name, reason in said.leave],
        "none": [name for _, name in said.none],
        "present": row.present,
        "invited": row.invited,
        "rate": _percent(row.rate, row.invited),
        "record": row.record,
        "photos": len(row.photos),
        "people": row.people,
    }


async def month_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = scope(who.identity, Action.KEEP_RECORDS)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    month = _month(request)
    if month is None:
        return await refuse(request, 404, "console_not_found")
    if wants_xlsx(request):
        return await _export(request, where, month)
    page_no = _int(request.query.get("page"))

    def read(session: Session) -> tuple[list[tuple[EventRow, Answers]], int]:
        rows = month_report(session, month, where)
        shown = rows[(page_no - 1) * PAGE : page_no * PAGE]
        return [(row, answers(session, row.event_id)) for row in shown], len(rows)

    shown, total = await _read(request, read)
    year, number = (int(part) for part in month.split("-"))
    return await render(
        request,
        "theme_month.html",
        events=[_event(request, row, said) for row, said in shown],
        total=total,
        page=page_no,
        pages=max(1, -(-total // PAGE)),
        month=month,
        months=_months(month),
        month_name=content(request).text("console_month_name", year=year, month=number),
        unit_name=where.rsplit("/", 1)[-1] if where else content(request).text("console_everything"),
        xlsx="?" + urlencode({"month": month, "format": "xlsx"}),
        xlsx_people="?" + urlencode({"month": month, "format": "xlsx", "sheet": "people"}),
    )


async def event_page(request: web.Request) -> web.StreamResponse:
    who = user(request)
    where = scope(who.identity, Action.KEEP_RECORDS)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    event_id = _id(request.match_info["id"])
    now = clock(request).now()

    def read(session: Session) -> tuple[EventRow, Answers] | None:
        row = event_report(session, event_id, where) if event_id is not None else None
        if row is None:
            return None
        audit.record(
            session, now, who.actor, "view_theme_day", row.unit_path, via="console", event=row.event_id
        )
        return row, answers(session, row.event_id)

    found = await services(request).db.run(read)
    if found is None:
        return await refuse(request, 404, "console_not_found")
    row, said = found
    states, hows = _names(request, "cli_records_state"), _names(request, "cli_records_how")
    people = [
        {
            "number": p.number,
            "name": p.name,
            "state": states.get(p.state, p.state),
            "how": hows.get(p.how, p.how) if p.how else "",
            "at": _when(request, p.at),
        }
        for p in row.people
    ]
    return await render(
        request,
        "theme_event.html",
        e=_event(request, row, said),
        people=people,
        stored=[p.seq for p in row.photos if p.status == "stored" and p.path],
        unstored=[_photo_label(request, p) for p in row.photos if not (p.status == "stored" and p.path)],
        month=row.starts_at.astimezone(_zone(request)).strftime("%Y-%m"),
    )


def _id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _photo_label(request: web.Request, photo: PhotoRow) -> str:
    key = "cli_records_photo_expired" if photo.status == "expired" else "cli_records_photo_pending"
    return content(request).text(key, seq=photo.seq)


async def photo(request: web.Request) -> web.StreamResponse:
    """A stored photo of a record in the user's scope, from the data folder."""
    where = scope(user(request).identity, Action.KEEP_RECORDS)
    if where is None:
        return await refuse(request, 403, "console_forbidden")
    event_id, seq = _id(request.match_info["id"]), _id(request.match_info["seq"])

    def read(session: Session) -> str | None:
        row = event_report(session, event_id, where) if event_id is not None else None
        if row is None:
            return None
        return next((p.path for p in row.photos if p.seq == seq and p.status == "stored" and p.path), None)

    relative: str | None = await _read(request, read)
    file = stored_file(Path(settings(request).data_dir), relative) if relative else None
    if file is None:
        return await refuse(request, 404, "console_not_found")
    return web.FileResponse(file, headers={"Content-Type": "image/jpeg"})


# --- the month's export ------------------------------------------------------------------------------


async def _export(request: web.Request, where: str, month: str) -> web.StreamResponse:
    rows: list[EventRow] = await _read(request, lambda session: month_report(session, month, where))
    t, texts = content(request).text, content(request).texts
    people = request.query.get("sheet") == "people"
    if people:
        sheet = Sheet(
            t("cli_records_people_sheet"), list(texts["cli_records_people_columns"]), _people(request, rows)
        )
    else:
        sheet = Sheet(
            t("cli_records_events_sheet"),
            list(texts["cli_records_event_columns"]),
            _events(request, rows),
            wrap=True,
        )
    return await xlsx_download(
        request,
        filename=t("console_theme_days_filename", month=month, sheet=sheet.title),
        sheet=sheet,
        action="export_theme_days",
        scope=where,
        month=month,
        part=("people" if people else "events"),
    )


def _events(request: web.Request, rows: Sequence[EventRow]) -> list[list[Any]]:
    """`partybot themeday report`'s events sheet."""
    zone, t = _zone(request), content(request).text
    kinds = _names(request, "event_kinds")
    cells: list[list[Any]] = []
    for row in rows:
        local = row.starts_at.astimezone(zone)
        photos = [p.path if p.status == "stored" and p.path else _photo_label(request, p) for p in row.photos]
        cells.append(
            [
                f"{local:%Y-%m-%d}",
                f"{local:%H:%M}",
                row.unit_name,
                kinds.get(row.kind, row.kind),
                row.topic,
                row.place,
                row.invited,
                row.present,
                row.leave,
                row.absent,
                f"{row.rate:.0%}",
                t("cli_records_yes" if row.record is not None else "cli_records_no"),
                row.record or "",
                "\n".join(photos),
            ]
        )
    return cells


def _people(request: web.Request, rows: Sequence[EventRow]) -> list[list[Any]]:
    """`partybot themeday report`'s people sheet."""
    zone = _zone(request)
    kinds = _names(request, "event_kinds")
    states, hows = _names(request, "cli_records_state"), _names(request, "cli_records_how")
    return [
        [
            f"{row.starts_at.astimezone(zone):%Y-%m-%d}",
            row.unit_name,
            kinds.get(row.kind, row.kind),
            row.topic,
            p.number,
            p.name,
            states.get(p.state, p.state),
            hows.get(p.how, p.how) if p.how else "",
            f"{p.at.astimezone(zone):%Y-%m-%d %H:%M}" if p.at else "",
        ]
        for row in rows
        for p in row.people
    ]
