"""`partybot jobs`: the scheduled jobs, their next runs, and running one as of a moment."""

from __future__ import annotations

import asyncio

import click

from bot.cli.common import content, fail, local_time, say, settings_or_exit
from bot.clock import clock_for, parse_moment, write_clock_file


def register(main: click.Group) -> None:
    @main.group("jobs", invoke_without_command=True)
    @click.pass_context
    def jobs(ctx: click.Context) -> None:
        """The scheduled jobs and their next run (run by whichever process holds the scheduler's lease)."""
        if ctx.invoked_subcommand is not None:
            return
        from scheduler.service import next_runs

        settings = settings_or_exit()
        now = clock_for(settings.clock_file, settings.timezone).now()
        for job, when in next_runs(now, settings.timezone, settings):
            shown = local_time(when, settings.timezone) if when else say("cli_job_never")
            described = content().texts.get("job_descriptions", {}).get(job.name, job.description)
            click.echo(say("cli_job_line", name=job.name, when=shown, description=described))

    @jobs.command("run")
    @click.argument("name")
    @click.option(
        "--now",
        "as_of",
        default=None,
        help="Run as of this moment (ISO, local time), e.g. 2026-12-18T09:00. With PARTYBOT_CLOCK_FILE "
        "(the demo) it also moves the demo's clock there.",
    )
    def jobs_run(name: str, as_of: str | None) -> None:
        """Run one job once, now or as of a given moment (catching up, or trying a job out)."""
        from scheduler.jobs import JobDeps, job_named

        settings = settings_or_exit()
        try:
            job = job_named(name)
        except KeyError:
            fail(say("cli_no_job", name=name))
        when = clock_for(settings.clock_file, settings.timezone).now()
        if as_of:
            try:
                when = parse_moment(as_of, settings.timezone, when)
            except ValueError:
                fail(say("cli_bad_now", value=as_of))
            if settings.clock_file is not None:
                # The demo: its server and fake WeChat follow (within half a second), so what the job
                # queues is delivered, and answered, as of this moment.
                write_clock_file(settings.clock_file, when)
                click.echo(say("cli_clock_moved", when=local_time(when, settings.timezone)))

        async def run() -> str:
            from bot.cli.outbound import outbound_stack

            async with outbound_stack(settings) as stack:
                return await job.run(JobDeps(stack.db, settings, stack.content, stack.gateway), when)

        result = asyncio.run(run())
        click.echo(say("cli_job_ran", name=name, when=local_time(when, settings.timezone), result=result))
