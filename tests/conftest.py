"""Test fixtures: a migrated database copied per test, one jieba tokenizer per run, a fixed clock,
signed WeChat requests over real HTTP, and no network beyond loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.clock import FixedClock
from bot.content import load_content
from bot.edge.nlp import NLP, quiet_jieba
from bot.edge.router import Router
from bot.settings import Settings
from models.migrate import upgrade
from tests.wechat import TOKEN, WeChatUser

APPID = "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DATA_KEY = "zqm3lNvJ8p6bQ2Yf0iH1c5Xw9tE4aR7uKs2Ld8Go0VA="
AES_KEY_OLD = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
# 2026-11-21 10:00 in Beijing.
T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)

PG_URL = os.environ.get("PARTYBOT_TEST_DATABASE_URL") or None
REDIS_URL = os.environ.get("PARTYBOT_TEST_REDIS_URL") or None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(tool: str, available: bool, how: str) -> None:
    """Skip a test that needs a missing tool, with the reason; in CI the tool must be there."""
    if available:
        return
    message = f"missing tool: {tool} ({how})"
    if IN_CI:
        pytest.fail(message + " -- CI must provide it")
    pytest.skip(message)


# --- no network beyond loopback -----------------------------------------------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(address: Any) -> None:
    if isinstance(address, (str, bytes)):
        return  # AF_UNIX
    host = address[0]
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ConnectionRefusedError(f"tests may only reach loopback, not {host!r}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _loopback_only(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _loopback_only(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    """A `.env` in the folder the suite runs from is not read by the settings a test makes (the demo writes
    one in the checkout: its database, clock file and mass-send quota broke CLI tests run after it). Tests
    set what they need; processes they start run in folders of their own."""
    monkeypatch.setitem(Settings.model_config, "env_file", None)


@pytest.fixture(scope="session", autouse=True)
def _no_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]  # test-only patch
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


# --- one tokenizer per run ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nlp() -> NLP:
    quiet_jieba()
    return NLP(load_content())


# --- databases: migrate once, copy per test -----------------------------------------------------


def _pg_admin_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _pg_url_for(url: str, dbname: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


async def _pg_exec(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database to copy: a SQLite file, or a PostgreSQL template database."""
    if PG_URL is None:
        path = tmp_path_factory.mktemp("template") / "template.db"
        asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
        yield str(path)
        return
    name = f"pb_tmpl_{os.getpid()}"
    asyncio.run(_pg_exec(PG_URL, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    asyncio.run(upgrade(_pg_url_for(PG_URL, name)))
    yield name
    asyncio.run(_pg_exec(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def database_url(db_template: str, tmp_path: Path) -> AsyncIterator[str]:
    if PG_URL is None:
        path = tmp_path / "partybot.db"
        shutil.copyfile(db_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = f"pb_t_{uuid.uuid4().hex[:12]}"
    await _pg_exec(PG_URL, f"CREATE DATABASE {name} TEMPLATE {db_template}")
    yield _pg_url_for(PG_URL, name)
    await _pg_exec(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- settings, clock, app -------------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    prefix = f"pbtest:{uuid.uuid4().hex[:8]}:"

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "wechat_token": TOKEN,
            "wechat_appid": APPID,
            "database_url": database_url,
            # Embedded mode (memory dedupe) on SQLite; the PostgreSQL pass is the multi-process
            # deployment, Redis included. Tests of several processes ask for Redis themselves.
            "redis_url": REDIS_URL if PG_URL else None,
            "redis_prefix": prefix,
            # Tests never wait for it: slow handlers block on events, budgets are tiny where it matters.
            "reply_budget_s": 2.0,
            "shutdown_grace_s": 1.0,
            "write_behind_interval_s": 3600,  # flushed explicitly by the tests
            "data_key": DATA_KEY,
            # Identity changes (seeded rows, another process) are followed before every message.
            "identity_poll_s": 0,
            # No background count of the dashboard per app (tests/test_console_kept.py turns it on).
            "console_warm": False,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


AppFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_client(
    make_settings: Callable[..., Settings], nlp: NLP, clock: FixedClock
) -> AsyncIterator[AppFactory]:
    clients: list[TestClient[Any, Any]] = []

    async def make(
        routers: tuple[Router, ...] = (), settings: Settings | None = None, **overrides: Any
    ) -> TestClient[Any, Any]:
        app = create_app(settings or make_settings(**overrides), clock=clock, nlp=nlp, routers=routers)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client()


@pytest.fixture
def user(client: TestClient[Any, Any], clock: FixedClock) -> WeChatUser:
    return WeChatUser(client, clock, openid="o-resident-1")


# --- the fake WeChat API, in process ------------------------------------------------------------------

SECRET = "partybot-test-secret"


class Stack:
    """The fake WeChat and partybot wired to each other, as in the demo."""

    def __init__(self, fake: Any, fake_client: TestClient[Any, Any], client: TestClient[Any, Any]) -> None:
        from bot.app import GATEWAY, WORKER

        self.fake, self.fake_client, self.client = fake, fake_client, client
        assert client.app is not None
        self.gateway = client.app[GATEWAY]
        self.worker = client.app[WORKER]

    async def act(self, openid: str, **action: Any) -> dict[str, Any]:
        resp = await self.fake_client.post("/sim/message", json={"openid": openid, **action})
        assert resp.status == 200
        result: dict[str, Any] = await resp.json()
        return result

    def sends(self, openid: str | None = None, api: str | None = None) -> list[Any]:
        return [
            s
            for s in self.fake.sends
            if (openid is None or s.openid == openid) and (api is None or s.api == api)
        ]


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(
    make_client: AppFactory, make_settings: Callable[..., Settings], clock: FixedClock
) -> AsyncIterator[StackFactory]:
    from bot.dev.fake_wechat import FakeConfig, FakeWeChat
    from bot.settings import AccountKind

    clients: list[TestClient[Any, Any]] = []

    async def make(
        routers: tuple[Router, ...] = (),
        account: AccountKind = AccountKind.SERVICE,
        aes_key: str | None = None,
        **overrides: Any,
    ) -> Stack:
        fake = FakeWeChat(
            FakeConfig(
                token=TOKEN, appid=APPID, secret=SECRET, webhook_url="", aes_key=aes_key, account=account
            ),
            clock=clock,
        )
        fake_client = TestClient(TestServer(fake.app()))
        await fake_client.start_server()
        clients.append(fake_client)
        overrides.setdefault("wechat_api_base", str(fake_client.make_url("")).rstrip("/"))
        settings = make_settings(
            wechat_secret=SECRET, wechat_account=account, wechat_aes_key=aes_key, **overrides
        )
        client = await make_client(routers=routers, settings=settings)
        fake.config.webhook_url = str(client.make_url("/wechat"))
        return Stack(fake, fake_client, client)

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack()


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium for Playwright (tests/browser.py), or the test is skipped with the reason (a
    failure in CI)."""
    from tests.browser import CHROMIUM

    require(
        "chromium", Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None, "apt-get install chromium"
    )
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        require("playwright", False, "pip install -e '.[dev]'")
    return CHROMIUM
