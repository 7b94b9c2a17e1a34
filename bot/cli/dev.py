"""`partybot demo`, `partybot chat`, `partybot fake-wechat` and `partybot clock`: WeChat's side and the demo's
clock, for trying partybot out."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import click

from bot.cli.common import fail, local_time, say, settings_or_exit
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

    @main.command("clock")
    @click.argument("moment", required=False)
    @click.option("--reset", is_flag=True, help="Back to real time.")
    def clock(moment: str | None, reset: bool) -> None:
        """Show or move the demo's clock (PARTYBOT_CLOCK_FILE, set by `partybot demo`).

        MOMENT: 2027-01-02T08:40 or "2027-01-02 08:40" (local time, PARTYBOT_TIMEZONE, unless it names a
        zone), or relative to the demo's time: +3h, +1d, -30m. The running demo follows within half a
        second; `partybot jobs run NAME --now MOMENT` moves it too, and runs the job as of then."""
        from bot.clock import BadClockFile, SystemClock, parse_moment, read_clock_file, write_clock_file

        settings = settings_or_exit()
        path, zone = settings.clock_file, settings.timezone
        if path is None:
            fail(say("cli_clock_not_configured"))
        if reset:
            path.unlink(missing_ok=True)
            click.echo(say("cli_clock_reset", when=local_time(SystemClock().now(), zone)))
            return
        try:
            reading = read_clock_file(path, zone)
        except BadClockFile as exc:
            if moment is None:
                fail(say("cli_clock_bad_file", reason=exc))
            reading = None  # a new moment replaces the bad file
        real = SystemClock().now()
        now = real + timedelta(seconds=reading.offset) if reading is not None else real
        if moment is None:
            if reading is None:
                click.echo(say("cli_clock_real", when=local_time(now, zone)))
            else:
                click.echo(say("cli_clock_shown", when=local_time(now, zone), ahead=_ahead(reading.offset)))
            return
        try:
            when = parse_moment(moment, zone, now)
        except ValueError:
            fail(say("cli_clock_bad_moment", value=moment))
        write_clock_file(path, when)
        click.echo(say("cli_clock_moved", when=local_time(when, zone)))

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


def _ahead(offset_s: float) -> str:
    """How far the demo's clock is from real time, in words: 比真实时间快15天2小时."""
    minutes = int(abs(offset_s) // 60)
    if minutes == 0:
        return say("cli_clock_even")
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        say(key, **{name: value})
        for key, name, value in (
            ("cli_clock_span_days", "days", days),
            ("cli_clock_span_hours", "hours", hours),
            ("cli_clock_span_minutes", "minutes", minutes),
        )
        if value
    ]
    return say("cli_clock_ahead" if offset_s > 0 else "cli_clock_behind", span="".join(parts))
