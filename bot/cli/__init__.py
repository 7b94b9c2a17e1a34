"""The `partybot` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import NoReturn

import click

from bot.settings import AccountKind, Settings, SettingsError, load_settings

log = logging.getLogger("partybot.cli")


def fail(message: str) -> NoReturn:
    click.echo(f"partybot: {message}", err=True)
    sys.exit(2)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(f"configuration error: {exc}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """partybot: a WeChat official-account bot for grid-level Party work.

    Settings come from PARTYBOT_* environment variables or a .env file (see README).
    """


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
            fail("the database schema is not current: run `partybot db upgrade` first")

    try:
        asyncio.run(prepare())
    except OSError as exc:
        fail(f"cannot reach the database ({settings.database_url.split('@')[-1]}): {exc}")
    app = create_app(settings, run_worker=True)
    web.run_app(
        app,
        host=host or settings.host,
        port=port or settings.port,
        shutdown_timeout=settings.shutdown_grace_s,
        access_log=None,
        print=lambda text: click.echo(text),
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
        fail(f"cannot reach the database: {exc}")
    click.echo(f"database at revision {now}")


@db.command("current")
def db_current() -> None:
    """Show the database's schema revision and the code's."""
    from models.migrate import current_revision, head_revision

    settings = settings_or_exit()
    now = asyncio.run(current_revision(settings.database_url))
    click.echo(f"database: {now or 'empty'}; code: {head_revision()}")


@main.command()
@click.option("--port", default=8080, show_default=True, help="Port of partybot's webhook.")
@click.option("--fake-port", default=8081, show_default=True, help="Port of the fake WeChat API.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of partybot's webhook.")
@click.option(
    "--account",
    type=click.Choice([k.value for k in AccountKind]),
    default="service",
    show_default=True,
    help="Which kind of official account the fake plays.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the demo database (partybot-demo.db) lives.",
)
def demo(port: int, fake_port: int, host: str, account: str, data_dir: Path) -> None:
    """Run the fake WeChat API and partybot together, then talk to it with `partybot chat`."""
    from bot.dev.demo import run_demo
    from bot.logs import configure_logging

    configure_logging("text", "WARNING")
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(run_demo(data_dir.resolve(), host, port, fake_port, AccountKind(account)))
    except OSError as exc:
        fail(f"cannot start the demo: {exc} (is another demo already running? try --port/--fake-port)")


@main.command()
@click.option("--openid", default=None, help="The WeChat user to be (default o-demo-user).")
@click.option("--as", "member_no", default=None, help="Be a demo member by number (openid o-demo-<number>).")
@click.option(
    "--fake", "fake_url", default=None, help="URL of the fake WeChat API (default: the running demo)."
)
def chat(openid: str | None, member_no: str | None, fake_url: str | None) -> None:
    """Talk to partybot as a WeChat user, through the fake WeChat API."""
    from bot.dev.chat import read_demo_state, run_chat

    if openid and member_no:
        fail("give --openid or --as, not both")
    who = openid or (f"o-demo-{member_no}" if member_no else "o-demo-user")
    if fake_url is None:
        state = read_demo_state()
        if state is None:
            fail("no running demo found: start `partybot demo` first, or pass --fake URL")
        fake_url = str(state["fake_url"])
    sys.exit(asyncio.run(run_chat(fake_url, who)))


@main.command("fake-wechat")
@click.option("--port", default=8081, show_default=True, help="Port to listen on.")
@click.option(
    "--webhook",
    "webhook_url",
    default="http://127.0.0.1:8080/wechat",
    show_default=True,
    help="partybot's webhook, where the fake forwards users' messages.",
)
def fake_wechat(port: int, webhook_url: str) -> None:
    """Run the fake WeChat API alone (uses the same PARTYBOT_WECHAT_* settings as `serve`).

    Point partybot at it with PARTYBOT_WECHAT_API_BASE=http://127.0.0.1:PORT, then use
    `partybot chat --fake http://127.0.0.1:PORT`."""
    from bot.dev.demo import run_fake

    settings = settings_or_exit()
    try:
        asyncio.run(run_fake(settings, port, webhook_url))
    except OSError as exc:
        fail(f"cannot start the fake WeChat API: {exc}")


from bot.cli.people import register as _register_people  # noqa: E402

_register_people(main)
from bot.cli.imports import register as _register_import  # noqa: E402

_register_import(main)
from bot.cli.outbound import register as _register_outbound  # noqa: E402

_register_outbound(main)
