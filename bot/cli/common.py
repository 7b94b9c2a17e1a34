"""What every `partybot` command family shares: failing with a message, and settings or exit."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from bot.settings import Settings, SettingsError, load_settings


def fail(message: str) -> NoReturn:
    click.echo(f"partybot: {message}", err=True)
    sys.exit(2)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(f"configuration error: {exc}")
