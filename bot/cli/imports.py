"""`partybot org|members|staff import`, `partybot admin add` and `partybot keygen`.

The reports are read by community secretaries: their lines come from content/import.yaml (Chinese); the
`--help` texts, like the rest of the command line, are in English.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.cli.common import cli_clock, fail, group, settings_or_exit
from bot.domain.importing import (
    ImportFailed,
    ImportKind,
    ImportReport,
    Progress,
    Table,
    import_members,
    import_org,
    import_staff,
    message,
    read_table,
)
from bot.domain.privacy import Vault, new_key
from bot.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

PROGRESS_EVERY = 500  # rows between two progress lines on stderr (only files at least this long show any)


def register(main: click.Group) -> None:
    """Add the import, admin and keygen commands to `partybot` (joining groups that already exist)."""
    group(
        main, "org", "The organisation tree (街道党工委 → 社区党委 → 网格党支部 → 楼栋党小组 → 党员中心户)."
    ).add_command(org_import, "import")
    group(main, "members", "The member ledger (党员台账).").add_command(members_import, "import")
    group(main, "staff", "Grid workers (网格员) and other community staff.").add_command(
        staff_import, "import"
    )
    group(main, "admin", "Administrators (everything, all units).").add_command(admin_add, "add")
    main.add_command(keygen, "keygen")


def _import_options(fn: F) -> F:
    options = (
        click.argument("file", type=click.Path(path_type=Path)),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Check the file and show what would change, without writing anything.",
        ),
        click.option(
            "--load-valid",
            is_flag=True,
            help="When some rows have errors, still write the rows without errors (the others are listed).",
        ),
        click.option(
            "--prune",
            is_flag=True,
            help=(
                "Deactivate entries that are in the database but no longer in the file (members and staff "
                "also lose their WeChat binding). Lists them and asks first."
            ),
        ),
        click.option("--yes", "-y", is_flag=True, help="With --prune: do not ask before deactivating."),
    )
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.command("import")
@_import_options
def org_import(file: Path, dry_run: bool, load_valid: bool, prune: bool, yes: bool) -> None:
    """Load the organisation tree from a CSV or XLSX file.

    Columns: 组织路径 (levels joined by /), 类型, and optionally 主题党日 and 覆盖楼栋. Units are matched by
    their path: importing the same file again changes nothing. If any row is wrong nothing is written and
    every error is listed with its row number.
    """
    _run_import("org", file, dry_run=dry_run, load_valid=load_valid, prune=prune, yes=yes)


@click.command("import")
@_import_options
def members_import(file: Path, dry_run: bool, load_valid: bool, prune: bool, yes: bool) -> None:
    """Load the member ledger (党员台账) from a CSV or XLSX file.

    Needs 编号, 姓名, 状态, 人员类型 and 所在组织 (units must be imported first); other columns as in the
    sample file. Members are matched by 编号: importing the same file again changes nothing, an edited file
    updates them. Phones are stored encrypted with PARTYBOT_DATA_KEY. ID-number columns are never read.
    Preferences a member set in WeChat (voice mode, volunteer posts) are kept.
    """
    _run_import("members", file, dry_run=dry_run, load_valid=load_valid, prune=prune, yes=yes)


@click.command("import")
@_import_options
def staff_import(file: Path, dry_run: bool, load_valid: bool, prune: bool, yes: bool) -> None:
    """Load grid workers (网格员) from a CSV or XLSX file.

    Columns: 编号, 姓名, 角色 (网格员), 所在组织, and optionally 手机. Matched by 编号, like members.
    """
    _run_import("staff", file, dry_run=dry_run, load_valid=load_valid, prune=prune, yes=yes)


def _progress(rows: int) -> Progress | None:
    if rows < PROGRESS_EVERY:
        return None

    def show(done: int, total: int) -> None:
        if done % PROGRESS_EVERY == 0 or done == total:
            click.echo(message("report.progress", done=done, total=total), err=True)

    return show


class _SchemaBehind(Exception):
    pass


async def _prepare(url: str) -> None:
    from models.migrate import current_revision, head_revision, is_empty, upgrade

    if await is_empty(url):
        await upgrade(url)  # a fresh install: loading the tree is often the first thing done
    elif await current_revision(url) != head_revision():
        raise _SchemaBehind


async def _import_async(
    settings: Settings,
    kind: ImportKind,
    table: Table,
    vault: Vault | None,
    *,
    dry_run: bool,
    load_valid: bool,
    prune: bool,
) -> ImportReport:
    from models.db import Database

    await _prepare(settings.database_url)
    db = Database(settings.database_url)
    try:
        now = cli_clock(settings).now()
        options: dict[str, Any] = {
            "now": now,
            "dry_run": dry_run,
            "load_valid": load_valid,
            "prune": prune,
            "progress": _progress(len(table.rows)),
        }
        if kind == "org":
            return await import_org(db, table, **options)
        if kind == "members":
            return await import_members(db, vault, table, **options)
        return await import_staff(db, vault, table, **options)
    finally:
        await db.dispose()


def _run_import(
    kind: ImportKind, file: Path, *, dry_run: bool, load_valid: bool, prune: bool, yes: bool
) -> None:
    settings = settings_or_exit()
    vault = Vault(settings.data_key) if settings.data_key else None
    try:
        table = read_table(file)
    except ImportFailed as exc:
        fail(str(exc))

    def run(dry: bool) -> ImportReport:
        try:
            return asyncio.run(
                _import_async(settings, kind, table, vault, dry_run=dry, load_valid=load_valid, prune=prune)
            )
        except ImportFailed as exc:
            fail(str(exc))
        except _SchemaBehind:
            fail(message("schema_not_current"))
        except OSError as exc:
            fail(message("no_database", reason=exc))
        except SQLAlchemyError as exc:
            fail(message("file.database", reason=str(exc).splitlines()[0]))

    if prune and not dry_run and not yes:
        preview = run(True)
        if preview.deactivated and not preview.blocked:
            for line in preview.lines()[:-1]:
                click.echo(line)
            if not click.confirm(
                message("report.prune_confirm", count=len(preview.deactivated)), default=False
            ):
                click.echo(message("report.prune_cancelled"))
                sys.exit(1)

    report = run(dry_run)
    lines = report.lines()
    for line in lines[:-1] if report.blocked else lines:
        click.echo(line)
    if report.blocked:
        click.echo(f"partybot: {report.summary()}", err=True)
        sys.exit(1)


@click.command("add")
@click.option("--name", required=True, help="The administrator's name.")
@click.option("--openid", default=None, help="Their WeChat openid, if already known.")
def admin_add(name: str, openid: str | None) -> None:
    """Create an administrator (sees and manages everything, all units) and print their id."""
    from models import Admin
    from models.db import Database

    name = name.strip()
    openid = openid.strip() if openid else None
    if not name or len(name) > 50:
        fail(message("admin_bad_name"))
    if openid is not None and len(openid) > 64:
        fail(message("admin_bad_openid"))
    settings = settings_or_exit()
    now = cli_clock(settings).now()

    def add(session: Session) -> tuple[int, str, bool]:
        if openid is not None:
            existing = session.scalar(select(Admin).where(Admin.openid == openid))
            if existing is not None:
                return existing.id, existing.name, False
        admin = Admin(name=name, openid=openid, created_at=now)
        session.add(admin)
        session.flush()
        return admin.id, admin.name, True

    async def go() -> tuple[int, str, bool]:
        await _prepare(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await db.run(add)
        finally:
            await db.dispose()

    try:
        admin_id, admin_name, created = asyncio.run(go())
    except _SchemaBehind:
        fail(message("schema_not_current"))
    except OSError as exc:
        fail(message("no_database", reason=exc))
    except SQLAlchemyError as exc:
        fail(message("file.database", reason=str(exc).splitlines()[0]))
    if not created:
        fail(message("admin_openid_taken", openid=openid, name=admin_name, id=admin_id))
    click.echo(message("admin_added", name=admin_name, id=admin_id))


@click.command("keygen")
def keygen() -> None:
    """Print a new data key: set it as PARTYBOT_DATA_KEY (it encrypts phones; keep it safe and backed up)."""
    click.echo(new_key())
    if os.environ.get("PARTYBOT_DATA_KEY"):
        click.echo(message("keygen_replace"), err=True)
    click.echo(message("keygen_note"), err=True)
