"""Spreadsheet import (导入): the organisation tree, the member ledger (党员台账) and grid workers (网格员),
from the CSV or XLSX files a community office keeps (formats: shared/data/README.md).

`read_table` reads a file into rows numbered as the spreadsheet shows them; `map_header` finds the columns by
their Chinese names or aliases; each row is checked on its own, then against the database (unit paths,
helpers), compared with what is stored, and applied, all in ONE transaction: nothing is written when any
row is wrong, unless the caller asks for the valid rows only (`load_valid`). Entries are matched by 编号
(the organisation tree by 组织路径), so importing the same file again changes nothing; entries missing from
the file are only reported unless `prune` is asked for. National ID numbers are never read or stored (PIPL;
DOMAIN.md). Every message a secretary reads comes from content/import.yaml.

The package, each module importing only those above it: `messages` (texts, ImportFailed) → `reader` (files
into tables) → `columns` (headers) and `values` (cells) → `report` → `rows` (one row, no database) →
`common` → `org`, `members`, `staff` (checking against the database, the diff, the writes) → this module,
the public API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.domain.importing.columns import ImportKind, Issue, locate_header
from bot.domain.importing.common import Progress, needs_key
from bot.domain.importing.members import member_parser, plan_and_apply_members
from bot.domain.importing.messages import ImportFailed, message
from bot.domain.importing.org import parse_org, plan_and_apply_org
from bot.domain.importing.reader import Table, read_table
from bot.domain.importing.report import Entry, ImportReport
from bot.domain.importing.rows import RowReader, duplicates, parse_rows
from bot.domain.importing.staff import parse_staff, plan_and_apply_staff
from bot.domain.places import sync_places
from bot.domain.privacy import Vault
from models.db import Database

__all__ = [
    "Entry",
    "ImportFailed",
    "ImportKind",
    "ImportReport",
    "Issue",
    "Progress",
    "Table",
    "import_members",
    "import_org",
    "import_staff",
    "message",
    "read_table",
]


Planner = Callable[[Session, list[tuple[RowReader, Any]], ImportReport, Callable[[], bool]], None]


async def _run(
    db: Database,
    kind: ImportKind,
    source: str | Path | Table,
    parse: Callable[[RowReader], Any],
    key: Callable[[Any], str],
    key_column: str,
    plan: Planner,
    *,
    vault: Vault | None,
    dry_run: bool,
    load_valid: bool,
    prune: bool,
) -> ImportReport:
    table = source if isinstance(source, Table) else read_table(source)
    table, columns = locate_header(table, kind)
    report = ImportReport(
        kind=kind,
        source=table.source,
        rows=len(table.rows),
        dry_run=dry_run,
        load_valid=load_valid,
        prune=prune,
        warnings=list(columns.warnings),
    )
    parsed = parse_rows(table, columns, report, parse)
    duplicates(parsed, key, key_column)
    if kind != "org":
        needs_key(parsed, vault)

    def should_apply() -> bool:
        report.written = not dry_run and (load_valid or not report.errors)
        return report.written

    def work(session: Session) -> None:
        # The checks against the database and the diff run inside the transaction that writes, so what
        # is reported is what is written.
        plan(session, parsed, report, should_apply)
        if report.written:
            sync_places(session)

    if dry_run:
        async with db.read() as session:
            await session.run_sync(work)
    else:
        await db.run(work)
    report.errors.sort(key=lambda issue: issue.row or 0)
    report.warnings.sort(key=lambda issue: issue.row or 0)
    return report


async def import_org(
    db: Database,
    path: str | Path | Table,
    *,
    now: datetime,
    dry_run: bool = False,
    load_valid: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Load the organisation tree (组织路径, 类型, 主题党日, 覆盖楼栋), matched by 组织路径.

    Raises ImportFailed when the file cannot be read at all; row errors are in the report."""

    def plan(
        session: Session,
        parsed: list[tuple[RowReader, Any]],
        report: ImportReport,
        apply: Callable[[], bool],
    ) -> None:
        plan_and_apply_org(session, parsed, report, now=now, apply=apply, progress=progress)

    return await _run(
        db,
        "org",
        path,
        parse_org,
        lambda item: str(item.path),
        "组织路径",
        plan,
        vault=None,
        dry_run=dry_run,
        load_valid=load_valid,
        prune=prune,
    )


async def import_members(
    db: Database,
    vault: Vault | None,
    path: str | Path | Table,
    *,
    now: datetime,
    dry_run: bool = False,
    load_valid: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Load the member ledger (党员台账), matched by 编号. Phones are stored only encrypted with vault; a
    file with phones and no vault raises ImportFailed. Preferences a member set in chat
    (Member.chat_preferences) are kept. With prune, members missing from the file are deactivated and their
    WeChat unbound."""
    latest = (now + timedelta(days=1)).date()  # "today" wherever in China the secretary is

    def plan(
        session: Session,
        parsed: list[tuple[RowReader, Any]],
        report: ImportReport,
        apply: Callable[[], bool],
    ) -> None:
        plan_and_apply_members(session, parsed, report, vault=vault, now=now, apply=apply, progress=progress)

    return await _run(
        db,
        "members",
        path,
        member_parser(latest),
        lambda item: str(item.number),
        "编号",
        plan,
        vault=vault,
        dry_run=dry_run,
        load_valid=load_valid,
        prune=prune,
    )


async def import_staff(
    db: Database,
    vault: Vault | None,
    path: str | Path | Table,
    *,
    now: datetime,
    dry_run: bool = False,
    load_valid: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Load grid workers (网格员), matched by 编号; like import_members."""

    def plan(
        session: Session,
        parsed: list[tuple[RowReader, Any]],
        report: ImportReport,
        apply: Callable[[], bool],
    ) -> None:
        plan_and_apply_staff(session, parsed, report, vault=vault, now=now, apply=apply, progress=progress)

    return await _run(
        db,
        "staff",
        path,
        parse_staff,
        lambda item: str(item.number),
        "编号",
        plan,
        vault=vault,
        dry_run=dry_run,
        load_valid=load_valid,
        prune=prune,
    )
