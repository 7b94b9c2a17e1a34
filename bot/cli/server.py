"""`partybot serve` and `partybot db`: run the webhook, and the database schema."""

from __future__ import annotations

import asyncio
import logging

import click

from bot.cli.common import fail, say, settings_or_exit

log = logging.getLogger("partybot.cli")


def event_loop(choice: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """The server's event loop and its name: uvloop's when installed (PARTYBOT_UVLOOP auto, or 1: then it
    must be), else asyncio's. BENCHMARKS.md shows what it is worth."""
    if choice != "0":
        try:
            import uvloop
        except ImportError:
            if choice == "1":
                fail(say("cli_no_uvloop"))
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"


def register(main: click.Group) -> None:
    @main.command()
    @click.option("--host", default=None, help="Address to listen on (default PARTYBOT_HOST or 127.0.0.1).")
    @click.option("--port", default=None, type=int, help="Port to listen on (default PARTYBOT_PORT or 8080).")
    def serve(host: str | None, port: int | None) -> None:
        """Run the webhook (GET/POST /wechat, /healthz, /metrics).

        An empty database is migrated first; one behind the code must be upgraded with `partybot db upgrade`.
        """
        from aiohttp import web

        from bot.app import create_app
        from bot.logs import configure_logging
        from models.migrate import current_revision, head_revision, is_empty, upgrade

        settings = settings_or_exit()
        configure_logging(settings.log_format.value, settings.log_level)

        async def prepare() -> None:
            if await is_empty(settings.database_url):
                log.info("empty database: applying migrations")
                await upgrade(settings.database_url)
            elif await current_revision(settings.database_url) != head_revision():
                fail(say("cli_schema_not_current"))

        try:
            asyncio.run(prepare())
        except OSError as exc:
            fail(say("cli_no_database", where=settings.database_url.split("@")[-1], reason=exc))
        loop, loop_name = event_loop(settings.uvloop)
        log.info("event loop: %s", loop_name, extra={"loop": loop_name})
        app = create_app(settings, run_worker=True)
        listen_host, listen_port = host or settings.host, port or settings.port
        shown_host = f"[{listen_host}]" if ":" in listen_host else listen_host
        web.run_app(
            app,
            loop=loop,
            host=listen_host,
            port=listen_port,
            shutdown_timeout=settings.shutdown_grace_s,
            access_log=None,
            # aiohttp's own line ("Running on …") in the CLI's words.
            print=lambda _: click.echo(say("cli_serving", url=f"http://{shown_host}:{listen_port}")),
        )

    @main.group()
    def db() -> None:
        """Database schema commands."""

    @db.command("upgrade")
    @click.option("--revision", default="head", show_default=True, help="Target revision.")
    def db_upgrade(revision: str) -> None:
        """Apply migrations (safe to run again: does nothing when current)."""
        from models.migrate import current_revision, upgrade

        settings = settings_or_exit()
        try:
            asyncio.run(upgrade(settings.database_url, revision))
            now = asyncio.run(current_revision(settings.database_url))
        except OSError as exc:
            fail(say("cli_no_database", where=settings.database_url.split("@")[-1], reason=exc))
        click.echo(say("cli_db_revision", revision=now))

    @db.command("current")
    def db_current() -> None:
        """Show the database's schema revision and the code's."""
        from models.migrate import current_revision, head_revision

        settings = settings_or_exit()
        now = asyncio.run(current_revision(settings.database_url))
        click.echo(say("cli_db_current", database=now or say("cli_db_empty"), code=head_revision()))
