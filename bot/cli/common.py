"""What every `partybot` command family shares: failing with a message, settings or exit, the words a person
reads (content/texts.yaml, the `cli_*` keys) and how a moment is shown."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from functools import cache
from typing import NoReturn
from zoneinfo import ZoneInfo

import click

from bot.clock import Clock, clock_for
from bot.content import Content, load_content
from bot.settings import Settings, SettingsError, load_settings


@cache
def content() -> Content:
    """content/, loaded once per command."""
    return load_content()


def say(key: str, /, **values: object) -> str:
    """A text from content/texts.yaml (Simplified Chinese, like the chat), formatted with values."""
    return content().text(key, **values)


def local_time(when: datetime, zone: str) -> str:
    """A moment as a person reads it on the command line: local time in `zone` (PARTYBOT_TIMEZONE) with the
    UTC offset, e.g. `2026-12-02 14:13 +08:00`. The same format everywhere in the CLI."""
    local = when.astimezone(ZoneInfo(zone))
    minutes = int((local.utcoffset() or timedelta(0)).total_seconds() // 60)
    hours, rest = divmod(abs(minutes), 60)
    return f"{local:%Y-%m-%d %H:%M} {'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"


def local_date(when: datetime, zone: str) -> str:
    """The calendar day of a moment in `zone`, e.g. `2026-10-09`."""
    return f"{when.astimezone(ZoneInfo(zone)):%Y-%m-%d}"


def fail(message: str) -> NoReturn:
    click.echo(f"partybot: {message}", err=True)
    sys.exit(2)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(say("cli_config_error", reason=exc))


def group(main: click.Group, name: str, help_text: str) -> click.Group:
    """The subcommand group `name` (`members`, `staff`, ...), made once: several families add to it."""
    existing = main.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    made = click.Group(name, help=help_text)
    main.add_command(made)
    return made


def cli_clock(settings: Settings) -> Clock:
    """The command's clock: the system's, or in the demo (PARTYBOT_CLOCK_FILE) the demo's moved one, so that
    what a command issues or reads lives at the same moment as the running demo."""
    return clock_for(settings.clock_file, settings.timezone)
