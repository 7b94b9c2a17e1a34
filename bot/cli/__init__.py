"""The `partybot` command: the group, and one module per command family that registers its commands."""

from __future__ import annotations

import click

from bot.cli import console, dev, dues, imports, jobs, outbound, people, requests, server, study, themeday


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """partybot: a WeChat official-account bot for grid-level Party work.

    Settings come from PARTYBOT_* environment variables or a .env file (see README).
    """


for _family in (server, dev, people, imports, outbound, jobs, study, themeday, dues, requests, console):
    _family.register(main)
