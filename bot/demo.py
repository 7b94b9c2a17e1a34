"""`partybot demo`: the fake WeChat API and partybot (server, worker) in one process, on SQLite."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import create_app
from bot.chat import demo_state_path, read_demo_state
from bot.fake_wechat import FakeConfig, FakeWeChat
from bot.settings import AccountKind, Settings
from models.migrate import upgrade

log = logging.getLogger("partybot.demo")

DEMO_APPID = "wxdemo0000000000"
DEMO_SECRET = "demo-secret"
DEMO_TOKEN = "partybot-demo"


def demo_keys(state: dict[str, Any] | None) -> str:
    """The demo's EncodingAESKey: kept across restarts, so the demo always runs in safe mode."""
    if state and isinstance(state.get("aes_key"), str) and len(state["aes_key"]) == 43:
        return str(state["aes_key"])
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=").replace("+", "A").replace("/", "B")


def demo_settings(
    workdir: Path, host: str, port: int, fake_port: int, aes_key: str, account: AccountKind
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{workdir / 'partybot-demo.db'}",
        wechat_token=DEMO_TOKEN,
        wechat_appid=DEMO_APPID,
        wechat_secret=DEMO_SECRET,
        wechat_aes_key=aes_key,
        wechat_account=account,
        wechat_api_base=f"http://127.0.0.1:{fake_port}",
        host=host,
        port=port,
    )


async def run_demo(workdir: Path, host: str, port: int, fake_port: int, account: AccountKind) -> None:
    state_path = demo_state_path()
    settings = demo_settings(workdir, host, port, fake_port, demo_keys(read_demo_state()), account)
    await upgrade(settings.database_url)

    fake = FakeWeChat(
        FakeConfig(
            token=DEMO_TOKEN,
            appid=DEMO_APPID,
            secret=DEMO_SECRET,
            webhook_url=f"http://127.0.0.1:{port}/wechat",
            aes_key=settings.wechat_aes_key,
            account=account,
        )
    )
    runners = [
        web.AppRunner(fake.app(), access_log=None),
        web.AppRunner(create_app(settings, run_worker=True), access_log=None),
    ]
    for runner in runners:
        await runner.setup()
    await web.TCPSite(runners[0], "127.0.0.1", fake_port).start()
    await web.TCPSite(runners[1], host, port).start()

    state = {
        "fake_url": f"http://127.0.0.1:{fake_port}",
        "webhook_url": f"http://{host}:{port}/wechat",
        "aes_key": settings.wechat_aes_key,
        "account": account.value,
        "database": settings.database_url,
    }
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state, ensure_ascii=False, indent=2), encoding="utf-8")

    print(
        f"partybot 演示已启动（安全模式，{account.value} 账号，数据库 {workdir / 'partybot-demo.db'}）\n"
        f"  公众号服务：http://{host}:{port}/wechat   健康检查：http://{host}:{port}/healthz\n"
        f"  假微信 API：http://127.0.0.1:{fake_port}\n"
        f"在另一个终端里扮演微信用户：\n"
        f"  .venv/bin/partybot chat --openid o-any\n"
        f"按 Ctrl+C 结束。",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("正在停止……", flush=True)
    for runner in reversed(runners):
        await runner.cleanup()


async def run_fake(settings: Settings, port: int, webhook_url: str) -> None:
    fake = FakeWeChat(
        FakeConfig(
            token=settings.wechat_token,
            appid=settings.wechat_appid,
            secret=settings.wechat_secret,
            webhook_url=webhook_url,
            aes_key=settings.wechat_aes_key,
            account=settings.wechat_account,
        )
    )
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"假微信 API 已在 http://127.0.0.1:{port} 启动，转发到 {webhook_url}。按 Ctrl+C 结束。", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
