"""`partybot jobs`: the scheduled jobs, their next runs, and running one as of a moment."""

from __future__ import annotations

import asyncio
from datetime import datetime

import click

from bot.cli.common import fail, settings_or_exit
from bot.clock import SystemClock


def register(main: click.Group) -> None:
    @main.group("jobs", invoke_without_command=True)
    @click.pass_context
    def jobs(ctx: click.Context) -> None:
        """The scheduled jobs and their next run (run by whichever process holds the scheduler's lease)."""
        if ctx.invoked_subcommand is not None:
            return
        from scheduler.service import next_runs

        settings = settings_or_exit()
        for job, when in next_runs(SystemClock().now(), settings.timezone):
            shown = when.strftime("%Y-%m-%d %H:%M %Z") if when else "-"
            click.echo(f"{job.name:<24} next {shown}   {job.description}")

    @jobs.command("run")
    @click.argument("name")
    @click.option(
        "--now", "as_of", default=None, help="Run as of this moment (ISO, local time), e.g. 2026-12-18T09:00."
    )
    def jobs_run(name: str, as_of: str | None) -> None:
        """Run one job once, now or as of a given moment (catching up, or trying a job out)."""
        from zoneinfo import ZoneInfo

        from scheduler.jobs import JobDeps, job_named

        settings = settings_or_exit()
        try:
            job = job_named(name)
        except KeyError:
            fail(f"no job named {name!r} (see `partybot jobs`)")
        when = SystemClock().now()
        if as_of:
            try:
                parsed = datetime.fromisoformat(as_of)
            except ValueError:
                fail(f"--now must be an ISO date and time, e.g. 2026-12-18T09:00 (got {as_of!r})")
            when = parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(settings.timezone))

        async def run() -> str:
            from bot.cli.outbound import outbound_stack

            async with outbound_stack(settings) as stack:
                return await job.run(JobDeps(stack.db, settings, stack.content, stack.gateway), when)

        click.echo(f"{name} as of {when.isoformat()}: {asyncio.run(run())}")
