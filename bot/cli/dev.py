"""`partybot demo`, `partybot chat` and `partybot fake-wechat`: WeChat's side, for trying partybot out."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from bot.cli.common import fail, say, settings_or_exit
from bot.settings import AccountKind


def register(main: click.Group) -> None:
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
        help="Where the demo database (partybot-demo.db) and its key live (its settings go to ./.env).",
    )
    def demo(port: int, fake_port: int, host: str, account: str, data_dir: Path) -> None:
        """Run the fake WeChat API and partybot together, then talk to it with `partybot chat`.

        Writes its settings to .env in the current folder (unless you wrote that file), so every other
        `partybot` command run in this folder works on the running demo."""
        from bot.dev.demo import run_demo
        from bot.logs import configure_logging

        configure_logging("text", "WARNING")
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            asyncio.run(run_demo(data_dir.resolve(), host, port, fake_port, AccountKind(account)))
        except OSError as exc:
            fail(say("cli_demo_failed", reason=exc))

    @main.command()
    @click.option("--openid", default=None, help="The WeChat user to be (default o-demo-user).")
    @click.option(
        "--as",
        "member_no",
        default=None,
        help="Be a demo member or grid worker by number (the WeChat bound to them, else o-demo-<number>).",
    )
    @click.option(
        "--fake", "fake_url", default=None, help="URL of the fake WeChat API (default: the running demo)."
    )
    def chat(openid: str | None, member_no: str | None, fake_url: str | None) -> None:
        """Talk to partybot as a WeChat user, through the fake WeChat API."""
        from bot.dev.chat import NotInDemo, chat_seen_path, member_openid, read_demo_state, run_chat

        if openid and member_no:
            fail(say("cli_openid_or_as"))
        state = read_demo_state()
        if fake_url is None:
            if state is None:
                fail(say("cli_no_demo"))
            fake_url = str(state["fake_url"])
        if member_no:
            try:
                who, note = member_openid(member_no, state, fake_url)
            except NotInDemo as exc:
                fail(str(exc))
            if note:
                click.echo(note)
        else:
            who = openid or "o-demo-user"
        sys.exit(asyncio.run(run_chat(fake_url, who, chat_seen_path())))

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
            fail(say("cli_fake_failed", reason=exc))
