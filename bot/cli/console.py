"""`partybot console passwd NAME`: set an administrator's password for the web console (argon2id,
bot.domain.console). The password is asked for twice on the terminal (or read from standard input with
--stdin, for scripts), never taken as an argument."""

from __future__ import annotations

import asyncio
import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import cli_clock, fail, group, say, settings_or_exit
from bot.domain import console
from models.db import Database


def register(main: click.Group) -> None:
    family = group(main, "console", "The web console (/console): administrators' passwords.")

    @family.command("passwd")
    @click.argument("name")
    @click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from standard input.")
    def passwd(name: str, from_stdin: bool) -> None:
        """Set (or replace) the console password of the administrator NAME (`partybot admin add`)."""
        settings = settings_or_exit()
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt(
                say("console_passwd_prompt"),
                hide_input=True,
                confirmation_prompt=say("console_passwd_repeat"),
            )
        now = cli_clock(settings).now()

        async def go() -> str:
            db = Database(settings.database_url)
            try:
                admin = await db.run(lambda session: console.set_password(session, name, password, now).name)
                return admin
            finally:
                await db.dispose()

        try:
            done = asyncio.run(go())
        except console.ConsoleError as exc:
            fail(say(exc.reason, low=console.PASSWORD_MIN, high=console.PASSWORD_MAX))
        except (OSError, SQLAlchemyError) as exc:
            fail(say("cli_config_error", reason=str(exc).splitlines()[0]))
        click.echo(say("console_passwd_done", name=done))
