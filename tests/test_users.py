"""Followers: the customer-service allowance (WECHAT.md) is tracked, and unfollowing erases data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.wechat.window import Window, opened
from models import ConversationState, InboundLog
from models import WeChatUser as UserRow
from tests.conftest import T0, AppFactory
from tests.helpers import flush, services
from tests.test_conversation import counter_router
from tests.wechat import WeChatUser


def test_window_model() -> None:
    closed = Window()
    msg = opened(closed, "message", T0)
    assert (msg.kind, msg.left, msg.expires_at) == ("message", 5, T0 + timedelta(hours=48))
    # A click inside a live 48 h allowance does not replace it.
    assert opened(msg, "event", T0 + timedelta(hours=1)) == msg
    click = opened(closed, "event", T0)
    assert (click.kind, click.left, click.expires_at) == ("event", 3, T0 + timedelta(minutes=1))
    after = opened(msg, "event", T0 + timedelta(hours=49))
    assert (after.kind, after.left) == ("event", 3)
    assert opened(msg, None, T0) == msg
    assert msg.use(T0).left == 4
    assert not click.is_open(T0 + timedelta(minutes=2))


async def _user(client: TestClient[Any, Any], openid: str) -> UserRow | None:
    await flush(client)
    async with services(client).db.read() as session:
        return await session.get(UserRow, openid)


async def test_a_message_opens_five_sends_for_48_hours(user: WeChatUser) -> None:
    await user.send("帮助")
    row = await _user(user.client, user.openid)
    assert row is not None
    assert (row.window_kind, row.window_left, row.window_expires_at) == (
        "message",
        5,
        T0 + timedelta(hours=48),
    )
    assert row.last_message_at == T0


async def test_a_click_opens_three_for_a_minute_but_not_over_a_message(
    user: WeChatUser, clock: FixedClock
) -> None:
    await user.event("CLICK", EventKey="MENU_HELP")
    row = await _user(user.client, user.openid)
    assert row is not None and (row.window_kind, row.window_left) == ("event", 3)
    clock.advance(10)
    await user.send("你好")
    clock.advance(10)
    await user.event("CLICK", EventKey="MENU_HELP")
    row = await _user(user.client, user.openid)
    assert row is not None and (row.window_kind, row.window_left) == ("message", 5)


async def test_view_and_location_reports_open_nothing(user: WeChatUser) -> None:
    await user.event("VIEW", EventKey="https://example.org/")
    await user.event("LOCATION", Latitude="39.9", Longitude="116.4", Precision="30")
    row = await _user(user.client, user.openid)
    assert row is not None and row.window_kind is None and row.window_left == 0


async def test_unfollow_erases_wechat_side_data(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(routers=(counter_router(),))
    user = WeChatUser(client, clock, "o-leaver")
    await user.event("subscribe")
    await user.send("开始")
    await user.send("2")
    await flush(client)
    result = await user.event("unsubscribe")
    assert (result.status, result.body) == (200, "success")
    row = await _user(client, "o-leaver")
    assert row is not None and not row.subscribed and row.window_left == 0 and row.last_message_at is None
    async with services(client).db.read() as session:
        assert await session.scalar(select(func.count()).select_from(InboundLog)) == 0
        assert await session.get(ConversationState, "o-leaver") is None
    clock.advance(60)
    await user.event("subscribe")
    row = await _user(client, "o-leaver")
    assert row is not None and row.subscribed


async def test_inbound_log_is_written_behind(user: WeChatUser) -> None:
    await user.send("帮助")
    async with services(user.client).db.read() as session:
        assert await session.scalar(select(func.count()).select_from(InboundLog)) == 0
    await flush(user.client)
    async with services(user.client).db.read() as session:
        entry = await session.scalar(select(InboundLog))
    assert entry is not None and (entry.route, entry.content, entry.kind) == (
        "help.show_menu",
        "帮助",
        "text",
    )
