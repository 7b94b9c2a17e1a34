"""`partybot serve` as an operator runs it: a real process, an empty database, SIGTERM to stop."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from bot.clock import SystemClock
from bot.dev.simulate import read_reply, sign_request, user_fields
from bot.wechat.wire import message_xml
from models import InboundLog
from models.db import Database
from tests.conftest import PG_URL
from tests.test_menu import MENU

PARTYBOT = str(Path(sys.executable).with_name("partybot"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_healthy(session: aiohttp.ClientSession, url: str, proc: asyncio.subprocess.Process) -> None:
    # Waiting for a real process to listen: bounded polling, the only wall-clock wait in the suite.
    for _ in range(300):
        if proc.returncode is not None:
            err = await proc.stderr.read() if proc.stderr is not None else b""
            raise AssertionError(f"serve exited with {proc.returncode}: {err.decode()[-3000:]}")
        try:
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("serve did not become healthy")


async def test_serve_migrates_an_empty_database_answers_and_stops_cleanly(
    tmp_path: Path, database_url: str
) -> None:
    url = database_url if PG_URL else f"sqlite:///{tmp_path / 'fresh.db'}"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")},
        "PARTYBOT_DATABASE_URL": url,
        "PARTYBOT_WECHAT_TOKEN": "serve-token",
        "PARTYBOT_LOG_FORMAT": "json",
    }
    proc = await asyncio.create_subprocess_exec(
        PARTYBOT,
        "serve",
        "--port",
        str(port),
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_healthy(session, f"{base}/healthz", proc)
            xml = message_xml(
                user_fields("text", "o-proc", "gh_x", int(SystemClock().time()), 99, Content="帮助")
            )
            signed = sign_request("serve-token", xml, int(SystemClock().time()))
            async with session.post(f"{base}/wechat", params=signed.query, data=signed.body) as resp:
                assert resp.status == 200
                reply = read_reply("serve-token", await resp.text())
            assert reply is not None and reply["Content"] == MENU
            async with session.get(f"{base}/metrics") as resp:
                assert 'partybot_replies_total{route="help.show_menu"} 1.0' in await resp.text()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert '"route": "help.show_menu"' in stderr.decode()  # one JSON log line per message
    # PARTYBOT_UVLOOP=auto: uvloop (the `speed` extras, which scripts/setup.sh installs) when it is there.
    expected = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    assert f'"loop": "{expected}"' in stderr.decode()
    # The inbound log was written behind, and flushed on the way out.
    db = Database(url.replace("sqlite:///", "sqlite+aiosqlite:///"))
    try:
        async with db.read() as s:
            logged = await s.scalar(select(func.count()).select_from(InboundLog))
            assert logged == 1, stderr.decode()[-4000:]
    finally:
        await db.dispose()


async def test_serve_refuses_bad_settings_with_the_variable_named(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")}
    env["PARTYBOT_WECHAT_TOKEN"] = "x"
    proc = await asyncio.create_subprocess_exec(
        PARTYBOT,
        "serve",
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "PARTYBOT_WECHAT_TOKEN" in stderr.decode()
