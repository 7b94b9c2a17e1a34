"""`partybot study`: check the 学习园地 files (`check`, with file:line problems) and list what is indexed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from sqlalchemy import func, select

from bot.cli.common import cli_clock, content, fail, group, local_date, say, settings_or_exit
from bot.domain.study import shipped_dir, sync_all
from bot.domain.study_files import Problem, check_directory, material_paths
from bot.settings import SettingsError, load_settings
from models import StudyMaterial, StudyRead
from models.db import Database


def describe(problem: Problem) -> str:
    message = say(f"study_check_{problem.code}", **problem.values)
    return say("cli_study_problem", path=problem.path, line=problem.line, message=message)


def register(main: click.Group) -> None:
    study = group(main, "study", "学习园地: check the material files, list what is indexed.")

    @study.command("check")
    @click.argument("folder", required=False, type=click.Path(path_type=Path))
    def check(folder: Path | None) -> None:
        """Check every material file (Markdown with front matter) of FOLDER — by default the shipped ones
        and PARTYBOT_STUDY_DIR — and print each problem as file:line: message. Exit code 1 on problems."""
        folders = [folder] if folder is not None else [shipped_dir()]
        if folder is None:
            try:
                configured = load_settings().study_dir
            except SettingsError:
                configured = None
            if configured is not None:
                folders.append(configured)
        bad = 0
        for where in folders:
            if not where.is_dir():
                fail(say("cli_study_no_folder", path=where))
            if next(iter(material_paths(where)), None) is None:
                click.echo(say("cli_study_no_files", folder=where))
                continue
            count, problems = check_directory(where)
            for problem in problems:
                click.echo(describe(problem))
            bad += len(problems)
            key = "cli_study_checked_bad" if problems else "cli_study_checked_ok"
            click.echo(say(key, folder=where, count=count, problems=len(problems)))
        if bad:
            sys.exit(1)

    @study.command("list")
    def list_materials() -> None:
        """Index the folders now and list the materials in use: source, version, date, how many read each."""
        settings = settings_or_exit()

        async def run() -> list[tuple[StudyMaterial, int]]:
            db = Database(settings.database_url)
            try:
                await sync_all(db, settings.study_dir, cli_clock(settings).now())
                async with db.read() as session:
                    reads = dict(
                        (
                            await session.execute(
                                select(StudyRead.material_id, func.count()).group_by(StudyRead.material_id)
                            )
                        ).all()
                    )
                    rows = (
                        await session.scalars(
                            select(StudyMaterial)
                            .where(StudyMaterial.active.is_(True))
                            .order_by(StudyMaterial.date.desc(), StudyMaterial.id.desc())
                        )
                    ).all()
                return [(row, int(reads.get(row.id, 0))) for row in rows]
            finally:
                await db.dispose()

        found = asyncio.run(run())
        sources = content().texts.get("cli_study_sources", {})
        click.echo(say("cli_study_list_header", count=len(found)))
        for row, reads in found:
            shown = row.date.isoformat() if row.date else local_date(row.created_at, settings.timezone)
            click.echo(
                say(
                    "cli_study_list_line",
                    id=row.id,
                    source=sources.get(row.source, row.source),
                    version=row.version,
                    date=shown,
                    reads=reads,
                    title=row.title,
                    pushed=say("cli_study_list_pushed") if row.pushed_at else "",
                )
            )
