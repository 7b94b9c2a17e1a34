"""`partybot themeday record`: the month's organisation life of a unit's subtree — each event (date, unit,
kind, topic, place, attendance, record and photos) and attendance by name — as a text table, or an Excel
workbook with two sheets. It is an export of personal data: recorded in the audit log. Never a phone."""

from __future__ import annotations

import asyncio
import getpass
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from bot.cli.common import cli_clock, content, fail, group, local_date, say, settings_or_exit
from bot.domain.audit import actor_for, record
from bot.domain.records import EventRow, PhotoRow, month_report
from bot.settings import Settings
from bot.workbook import Sheet, width, write_workbook
from models import OrgUnit
from models.db import Database

RATE = "{:.0%}"
SHOWN_TEXT = 30  # characters of a record's text in the text table (the workbook has all of it)


def register(main: click.Group) -> None:
    themeday = group(main, "themeday", "The theme day (主题党日) and other meetings: records and exports.")

    @themeday.command("record")
    @click.option("--month", required=True, help="The month, e.g. 2026-12.")
    @click.option(
        "--unit", default=None, help="A unit's full path (default: every unit); its subtree is shown."
    )
    @click.option(
        "--xlsx",
        "xlsx",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        default=None,
        help="Write an Excel workbook here (two sheets: events, attendance) instead of the text table.",
    )
    def record_export(month: str, unit: str | None, xlsx: Path | None) -> None:
        """Export the month's events of a unit's subtree (the theme day and the other meetings of 三会一课):
        date, unit, kind, topic, place, invited, present, on leave, absent, attendance rate, the record
        (组织生活纪实) and its photos (paths under PARTYBOT_DATA_DIR); and attendance by name (how each
        member signed in, and when). Phones are never exported. The export is recorded in the audit log."""
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month.strip()):
            fail(say("cli_records_bad_month", value=month))
        month = month.strip()
        settings = settings_or_exit()
        scope = (unit or "").strip().strip("/")
        rows = asyncio.run(_collect(settings, month, scope, xlsx))
        label = scope or say("cli_records_all_units")
        if xlsx is not None:
            write_events_workbook(xlsx, rows, settings.timezone)
            click.echo(
                say("cli_records_written", month=month, unit=label, count=len(rows), output=xlsx), err=True
            )
            return
        if not rows:
            click.echo(say("cli_records_none", month=month, unit=label))
            return
        click.echo(say("cli_records_title", month=month, unit=label, count=len(rows)))
        click.echo(
            text_table(say_list("cli_records_event_columns"), event_cells(rows, settings.timezone, True))
        )
        click.echo("")
        click.echo(say("cli_records_people_title"))
        click.echo(text_table(say_list("cli_records_people_columns"), people_cells(rows, settings.timezone)))


async def _collect(settings: Settings, month: str, scope: str, xlsx: Path | None) -> list[EventRow]:
    db = Database(settings.database_url)
    try:
        if scope:
            async with db.read() as session:
                found = await session.scalar(select(OrgUnit.id).where(OrgUnit.path == scope))
            if found is None:
                fail(say("cli_records_no_unit", unit=scope))
        async with db.read() as session:
            rows = await session.run_sync(lambda s: month_report(s, month, scope))
        who, now = actor_for(cli_user=getpass.getuser()), cli_clock(settings).now()
        people = sum(len(r.people) for r in rows)
        await db.run(
            lambda s: record(
                s,
                now,
                who,
                "export_theme_day_records",
                scope,
                month=month,
                events=len(rows),
                people=people,
                format="xlsx" if xlsx is not None else "text",
            )
        )
        return rows
    finally:
        await db.dispose()


def say_list(key: str) -> list[str]:
    return [str(v) for v in content().texts[key]]


def kind_label(kind: str) -> str:
    kinds: dict[str, str] = content().texts["event_kinds"]
    return kinds.get(kind, kind)


def photo_label(photo: PhotoRow) -> str:
    if photo.status == "stored" and photo.path:
        return photo.path
    key = "cli_records_photo_expired" if photo.status == "expired" else "cli_records_photo_pending"
    return say(key, seq=photo.seq)


def local_clock(row: EventRow, zone: str) -> str:
    return f"{row.starts_at.astimezone(ZoneInfo(zone)):%H:%M}"


def event_cells(rows: Sequence[EventRow], zone: str, short: bool = False) -> list[list[Any]]:
    cells: list[list[Any]] = []
    for row in rows:
        text = row.record or ""
        if short:
            text = " ".join(text.split())
            text = text if len(text) <= SHOWN_TEXT else text[:SHOWN_TEXT] + "…"
        cells.append(
            [
                local_date(row.starts_at, zone),
                local_clock(row, zone),
                row.unit_name,
                kind_label(row.kind),
                row.topic,
                row.place,
                row.invited,
                row.present,
                row.leave,
                row.absent,
                RATE.format(row.rate),
                say("cli_records_yes" if row.record is not None else "cli_records_no"),
                text,
                ("；" if short else "\n").join(photo_label(p) for p in row.photos),
            ]
        )
    return cells


def people_cells(rows: Sequence[EventRow], zone: str) -> list[list[Any]]:
    states: dict[str, str] = content().texts["cli_records_state"]
    hows: dict[str, str] = content().texts["cli_records_how"]
    cells: list[list[Any]] = []
    for row in rows:
        for person in row.people:
            cells.append(
                [
                    local_date(row.starts_at, zone),
                    row.unit_name,
                    kind_label(row.kind),
                    row.topic,
                    person.number,
                    person.name,
                    states.get(person.state, person.state),
                    hows.get(person.how, person.how) if person.how else "",
                    f"{person.at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}" if person.at else "",
                ]
            )
    return cells


def text_table(header: Sequence[str], cells: Sequence[Sequence[Any]]) -> str:
    rows = [[str(c) for c in header], *[[str(c) for c in row] for row in cells]]
    widths = [max(width(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        line = "  ".join(cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row))
        lines.append(line.rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_events_workbook(path: Path, rows: Sequence[EventRow], zone: str) -> None:
    write_workbook(
        path,
        Sheet(
            say("cli_records_events_sheet"),
            say_list("cli_records_event_columns"),
            event_cells(rows, zone),
            wrap=True,
        ),
        Sheet(
            say("cli_records_people_sheet"), say_list("cli_records_people_columns"), people_cells(rows, zone)
        ),
    )
