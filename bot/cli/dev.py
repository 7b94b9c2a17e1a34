"""`partybot demo`, `partybot chat` and `partybot fake-wechat`: WeChat's side, for trying partybot out."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from bot.cli.common import fail, settings_or_exit
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
    @click.option(
        "--as", "member_no", default=None, help="Be a demo member by number (openid o-demo-<number>)."
    )
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
