"""`partybot dues import FILE` (a bank statement of 党费 into the ledger, bot.domain.dues_import) and
`partybot dues report --month 2026-11 [--org PATH] [--xlsx FILE]` (the month's ledger of a subtree: each
member's amount, how it was worked out, paid or not, when, and consecutive unpaid months). The report is an
export of personal data: recorded in the audit log. Never a phone."""

from __future__ import annotations

import asyncio
import getpass
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.cli.common import cli_clock, content, fail, group, say, settings_or_exit
from bot.cli.themeday import text_table
from bot.domain import dues, dues_report
from bot.domain.audit import actor_for, record
from bot.domain.dues_import import DuesImport, import_dues, report_lines
from bot.domain.dues_report import ReportRow, yuan
from bot.domain.importing.messages import ImportFailed, message
from bot.settings import Settings
from bot.workbook import Sheet, write_workbook
from models import OrgUnit
from models.db import Database


def register(main: click.Group) -> None:
    family = group(main, "dues", "Party dues (党费): import a bank statement, the month's report.")

    @family.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--org", default="", help="The branch's full path: names are matched within it.")
    @click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
    @click.option("--load-valid", is_flag=True, help="Record the rows without errors even when others fail.")
    def import_cmd(file: Path, org: str, dry_run: bool, load_valid: bool) -> None:
        """Record payments from a CSV or XLSX bank statement.

        Columns: 编号 or 姓名, 月份 (2026-11 or 2026-09至2026-11), 金额, and optionally 日期 and 备注. A row
        is matched by 编号, else by 姓名 within --org. Nothing is written when any row fails, unless
        --load-valid; months already recorded are skipped.
        """
        settings = settings_or_exit()
        try:
            result = asyncio.run(_import(settings, file, org.strip().strip("/"), dry_run, load_valid))
        except ImportFailed as exc:
            fail(str(exc))
        except (OSError, SQLAlchemyError) as exc:
            fail(message("no_database", reason=str(exc).splitlines()[0]))
        report = result.report
        money = {"months": result.months, "total": yuan(result.total_fen), "credit": yuan(result.credit_fen)}
        if report.errors and not load_valid:
            done = say("dues_cli_import_blocked", count=len(report.errors))
        elif dry_run:
            done = say("dues_cli_import_dry_run", **money)
        else:
            done = say("dues_cli_import_done", **money)
            if report.errors:
                done = say("dues_cli_import_partial", count=len(result.skipped_rows)) + done
        lines = report_lines(result, done)
        blocked = bool(report.errors) and not load_valid
        for line in lines[:-1] if blocked else lines:
            click.echo(line)
        if blocked:
            click.echo(f"partybot: {done}", err=True)
            sys.exit(1)

    @family.command("report")
    @click.option("--month", required=True, help="The month, e.g. 2026-11.")
    @click.option("--org", default="", help="A unit's full path (default: every unit); its subtree is shown.")
    @click.option(
        "--xlsx",
        "xlsx",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        default=None,
        help="Write an Excel workbook here instead of the text table.",
    )
    def report_cmd(month: str, org: str, xlsx: Path | None) -> None:
        """The month's dues ledger of a subtree: 编号, 姓名, unit, amount due and how it was worked out,
        paid or not (when, and how recorded), consecutive unpaid months; and the collection rate. Recorded
        in the audit log."""
        months = dues.parse_months(month)
        if not months or len(months) != 1:
            fail(say("dues_bad_month", value=month))
        settings = settings_or_exit()
        scope = org.strip().strip("/")
        found = asyncio.run(_report(settings, months[0], scope, xlsx))
        header = dues_report.header(content().texts, say)
        cells = [line_cells(row) for row in found.rows]
        if xlsx is not None:
            write_workbook(xlsx, Sheet(say("dues_cli_sheet"), header, cells))
            click.echo(say("dues_cli_xlsx", file=xlsx), err=True)
        else:
            click.echo(say("dues_cli_report_title", unit=found.unit, month=dues.month_label(months[0])))
            click.echo(text_table(header, cells))
        click.echo(found.summary)


@dataclass(frozen=True, slots=True)
class Report:
    unit: str
    rows: list[ReportRow]
    summary: str


def line_cells(row: ReportRow) -> list[Any]:
    return dues_report.cells(row, say)


async def _import(settings: Settings, file: Path, org: str, dry_run: bool, load_valid: bool) -> DuesImport:
    db = Database(settings.database_url)
    try:
        return await import_dues(
            db,
            file,
            cli_clock(settings).now(),
            org=org,
            start=settings.dues_start_month,
            timezone=settings.timezone,
            rounding=settings.dues_rounding,
            by_cli=f"cli:{getpass.getuser()}",
            dry_run=dry_run,
            load_valid=load_valid,
        )
    finally:
        await db.dispose()


async def _report(settings: Settings, month: str, scope: str, xlsx: Path | None) -> Report:
    db = Database(settings.database_url)
    try:

        def read(session: Session) -> Report:
            unit = ""
            if scope:
                unit = str(session.scalar(select(OrgUnit.name).where(OrgUnit.path == scope)) or "")
                if not unit:
                    fail(say("dues_cli_no_org", path=scope))
            start = dues.start_month(session, settings.dues_start_month, settings.timezone)
            found, rows = dues_report.month_rows(
                session, scope, month, start=start, rounding=settings.dues_rounding
            )
            summary = say(
                "dues_cli_report_summary",
                due=len(found.due),
                paid=len(found.paid),
                rate=f"{found.rate:.0%}",
                paid_fen=yuan(found.paid_fen),
                due_fen=yuan(found.due_fen),
            )
            return Report(unit or say("cli_records_all_units"), rows, summary)

        async with db.read() as session:
            report = await session.run_sync(read)
        who, now = actor_for(cli_user=getpass.getuser()), cli_clock(settings).now()

        def audit(session: Session) -> None:
            record(
                session,
                now,
                who,
                "export_dues_report",
                scope or None,
                month=month,
                members=len(report.rows),
                format="xlsx" if xlsx is not None else "text",
            )

        await db.run(audit)
        return report
    finally:
        await db.dispose()
