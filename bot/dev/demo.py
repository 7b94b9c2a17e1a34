"""`partybot demo`: the fake WeChat API and partybot (server, worker) in one process, on SQLite."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import signal
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.clock import SystemClock
from bot.dev.chat import demo_state_path, read_demo_state
from bot.dev.fake_wechat import FakeConfig, FakeWeChat
from bot.domain.importing import import_members, import_org, import_staff
from bot.domain.privacy import Vault, new_key
from bot.settings import AccountKind, Settings
from models import Admin, Binding, Member, OrgUnit, Staff
from models.db import Database
from models.migrate import upgrade

log = logging.getLogger("partybot.demo")

DEMO_APPID = "wxdemo0000000000"
DEMO_SECRET = "demo-secret"
DEMO_TOKEN = "partybot-demo"
# Left unbound so that a newcomer can try binding (by code, or `绑定 郑国平 8009` and the secretary's 同意).
DEMO_UNBOUND = frozenset({"YX-009", "YX-010", "YX-037"})


def demo_keys(state: dict[str, Any] | None) -> str:
    """The demo's EncodingAESKey: kept across restarts, so the demo always runs in safe mode."""
    if state and isinstance(state.get("aes_key"), str) and len(state["aes_key"]) == 43:
        return str(state["aes_key"])
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=").replace("+", "A").replace("/", "B")


def demo_data_key(workdir: Path) -> str:
    """The demo's PARTYBOT_DATA_KEY, kept beside its database (the phones in it are encrypted with it)."""
    path = workdir / "partybot-demo.key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = new_key()
    path.write_text(key, encoding="utf-8")
    path.chmod(0o600)
    return key


async def seed_demo(settings: Settings, now: datetime) -> bool:
    """Load the demo community (content/demo) into an empty database through the normal import, and bind
    every member and grid worker to `o-demo-<编号>`, plus an administrator `o-demo-admin`. Returns
    whether it seeded (False when the database already has an organisation tree)."""
    assert settings.data_key is not None
    db = Database(settings.database_url)
    try:
        async with db.read() as session:
            if await session.scalar(select(OrgUnit.id).limit(1)) is not None:
                return False
        vault = Vault(settings.data_key)
        files = Path(str(resources.files("content"))) / "demo"
        for report in (
            await import_org(db, files / "org.csv", now=now),
            await import_members(db, vault, files / "roster.csv", now=now),
            await import_staff(db, vault, files / "staff.csv", now=now),
        ):
            if not report.written:
                raise RuntimeError("the demo community did not load:\n" + "\n".join(report.lines()))

        def bind(session: Session) -> None:
            for member_id, number in session.execute(select(Member.id, Member.number)).all():
                if number in DEMO_UNBOUND:
                    continue
                session.add(
                    Binding(openid=f"o-demo-{number}", member_id=member_id, method="demo", bound_at=now)
                )
            for staff_id, number in session.execute(select(Staff.id, Staff.number)).all():
                session.add(
                    Binding(openid=f"o-demo-{number}", staff_id=staff_id, method="demo", bound_at=now)
                )
            session.add(Admin(name="演示管理员", openid="o-demo-admin", created_at=now))

        await db.run(bind)
        return True
    finally:
        await db.dispose()


async def bound_openids(settings: Settings) -> list[str]:
    db = Database(settings.database_url)
    try:
        async with db.read() as session:
            return list((await session.scalars(select(Binding.openid))).all())
    finally:
        await db.dispose()


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
        data_key=demo_data_key(workdir),
        host=host,
        port=port,
    )


async def run_demo(workdir: Path, host: str, port: int, fake_port: int, account: AccountKind) -> None:
    state_path = demo_state_path()
    settings = demo_settings(workdir, host, port, fake_port, demo_keys(read_demo_state()), account)
    await upgrade(settings.database_url)
    seeded = await seed_demo(settings, SystemClock().now())

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
    # WeChat knows its followers: every bound demo member has followed the account (mass sends and
    # template notices reach only followers).
    fake.follow(await bound_openids(settings))
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
        f"partybot 演示已启动（安全模式，{account.value} 账号，数据库 {workdir / 'partybot-demo.db'}"
        f"{'，已载入演示社区' if seeded else ''}）\n"
        f"  公众号服务：http://{host}:{port}/wechat   健康检查：http://{host}:{port}/healthz\n"
        f"  假微信 API：http://127.0.0.1:{fake_port}\n"
        f"在另一个终端里扮演微信用户，例如：\n"
        f"  .venv/bin/partybot chat --openid o-any      新用户：试试“报到”或“绑定 郑国平 8009”\n"
        f"  .venv/bin/partybot chat --as YX-004         王秀兰，85岁老党员，有联系人\n"
        f"  .venv/bin/partybot chat --as YX-002         林晓梅，第一网格党支部书记（成员、待审、绑定码）\n"
        f"  .venv/bin/partybot chat --as YX-007         李文博，流动党员\n"
        f"  .venv/bin/partybot chat --as YX-001         周建国，社区党委书记：发“公告 通知内容”再“确认”\n"
        f"  .venv/bin/partybot chat --as WG-01          韩磊，网格员\n"
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
