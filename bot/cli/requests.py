"""`partybot report requests --month 2026-11 [--org PATH] [--by unit|grid] [--xlsx FILE]`: the three rates
of 居民诉求 (响应率, 解决率, 满意率, with their counts) of a subtree and of each unit below it, as
bot.domain.request_rates computes them (nothing computed here). A text table, or an Excel workbook. The
export is recorded in the audit log."""

from __future__ import annotations

import asyncio
import getpass
import re
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.cli.common import cli_clock, content, fail, group, say, settings_or_exit
from bot.cli.themeday import text_table
from bot.domain.audit import actor_for, record
from bot.domain.importing.messages import message
from bot.domain.request_rates import Rates, rates
from bot.settings import Settings
from bot.workbook import Sheet, write_workbook
from models import OrgUnit
from models.db import Database

MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def register(main: click.Group) -> None:
    report = group(main, "report", "Reports of a month: the three rates of residents' requests.")

    @report.command("requests")
    @click.option("--month", required=True, help="The month the requests were filed in, e.g. 2026-11.")
    @click.option("--org", default="", help="A unit's full path (default: every unit); its subtree is shown.")
    @click.option(
        "--by",
        type=click.Choice(["unit", "grid"]),
        default="unit",
        show_default=True,
        help="The rows below the total: the units directly below --org, or every 网格党支部 in it.",
    )
    @click.option(
        "--xlsx",
        "xlsx",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        default=None,
        help="Write an Excel workbook here instead of the text table.",
    )
    def requests_cmd(month: str, org: str, by: str, xlsx: Path | None) -> None:
        """The three rates of 居民诉求 filed in the month (local time): 响应率 (taken in time), 解决率
        (solved in time), 满意率 (满意 or 基本满意 among the rated), with their counts and the tickets
        closed unrated, for --org's subtree and each unit below it. Recorded in the audit log."""
        found = MONTH.fullmatch(month.strip())
        if found is None:
            fail(say("req_cli_bad_month", value=month))
        month = month.strip()
        settings = settings_or_exit()
        scope = org.strip().strip("/")
        try:
            rows = asyncio.run(_report(settings, month, scope, by, xlsx))
        except (OSError, SQLAlchemyError) as exc:
            fail(message("no_database", reason=str(exc).splitlines()[0]))
        head, *below = rows
        unit = head.unit_name or say("cli_records_all_units")
        label = content().text("month_label", year=int(found.group(1)), month=int(found.group(2)))
        header = [str(v) for v in content().texts["req_cli_header"]]
        cells = [cells_of(head, say("req_cli_total", unit=unit)), *(cells_of(r, r.unit_name) for r in below)]
        if xlsx is not None:
            paths = [head.unit_path, *(r.unit_path for r in below)]
            write_workbook(
                xlsx,
                Sheet(
                    say("req_cli_sheet"),
                    [*header, say("req_cli_path")],
                    [[*row, path] for row, path in zip(cells, paths, strict=True)],
                    freeze="B2",
                ),
            )
            click.echo(say("req_cli_xlsx", file=xlsx), err=True)
            return
        click.echo(say("req_cli_title", unit=unit, month=label))
        click.echo(text_table(header, cells))
        click.echo(say("req_cli_foot"))


def percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else say("req_cli_none")


def cells_of(row: Rates, name: str) -> list[Any]:
    return [
        name,
        row.tickets,
        row.responded,
        percent(row.responded, row.tickets),
        row.solved,
        percent(row.solved, row.tickets),
        row.rated,
        row.satisfied,
        percent(row.satisfied, row.rated),
        row.unrated_closed,
    ]


async def _report(settings: Settings, month: str, scope: str, by: str, xlsx: Path | None) -> list[Rates]:
    db = Database(settings.database_url)
    try:

        def read(session: Session) -> list[Rates]:
            if scope and session.scalar(select(OrgUnit.id).where(OrgUnit.path == scope)) is None:
                fail(say("req_cli_no_org", path=scope))
            return rates(session, month, scope, by=by)

        async with db.read() as session:
            found = await session.run_sync(read)
        who, now = actor_for(cli_user=getpass.getuser()), cli_clock(settings).now()
        head = found[0]

        def audit(session: Session) -> None:
            record(
                session,
                now,
                who,
                "export_request_rates",
                scope or None,
                month=month,
                by=by,
                tickets=head.tickets,
                units=len(found) - 1,
                format="xlsx" if xlsx is not None else "text",
            )

        await db.run(audit)
        return found
    finally:
        await db.dispose()
