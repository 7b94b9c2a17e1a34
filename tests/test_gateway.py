"""The gateway against the fake WeChat API: every method, every error, the token, the window model."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.dev.fake_wechat import Fault
from bot.settings import AccountKind
from bot.wechat.errors import (
    Busy,
    DailyQuotaReached,
    InvalidCredential,
    InvalidMessageType,
    NotAllowedForAccount,
    NotFollowing,
    OutsideReplyWindow,
    ReplyCountExceeded,
    TokenExpired,
    Unreachable,
    WeChatError,
)
from bot.wechat.gateway import WeChatGateway
from tests.conftest import Stack, StackFactory
from tests.helpers import metric

CUSTOM = "/cgi-bin/message/custom/send"


async def follower(stack: Stack, openid: str = "o-gw") -> str:
    await stack.act(openid, type="text", content="你好")
    return openid


async def test_customer_service_messages_of_every_type(stack: Stack) -> None:
    openid = await follower(stack)
    gw = stack.gateway
    await gw.send_text(openid, "通知：周六开会")
    media = await gw.upload_media("voice", "n.amr", b"#!AMR\n" + b"\x00" * 100, "audio/amr")
    await gw.send_voice(openid, media.media_id)
    image = await gw.upload_media("image", "p.jpg", b"\xff\xd8" + b"\x00" * 50, "image/jpeg")
    await gw.send_image(openid, image.media_id)
    await gw.send_news(openid, "标题", "描述", "https://example.org/a")
    sent = stack.sends(openid, "custom")
    assert [(s.msgtype, s.content) for s in sent] == [
        ("text", {"content": "通知：周六开会"}),
        ("voice", {"media_id": media.media_id}),
        ("image", {"media_id": image.media_id}),
        (
            "news",
            {
                "articles": [
                    {"title": "标题", "description": "描述", "url": "https://example.org/a", "picurl": ""}
                ]
            },
        ),
    ]
    assert await gw.get_media(media.media_id) == b"#!AMR\n" + b"\x00" * 100


async def test_notices_mass_send_qrcode_and_menu(stack: Stack) -> None:
    openid = await follower(stack)
    gw = stack.gateway
    msgid = await gw.send_template(
        openid, "TPL-1", {"thing1": "主题党日", "time2": "11月25日"}, url="https://e.org"
    )
    assert msgid > 0
    await gw.send_subscription(openid, "SUB-1", {"thing1": "党费提醒"})
    voice = await gw.upload_media("voice", "n.amr", b"#!AMR\n" + b"\x00" * 32, "audio/amr")
    voice_id = await gw.mass_send_voice([openid, "o-not-following"], voice.media_id, clientmsgid="bc-voice")
    mass_id = await gw.mass_send_text([openid, "o-not-following"], "群发通知", clientmsgid="bc-1")
    with pytest.raises(WeChatError) as dup:
        await gw.mass_send_text([openid, "o-not-following"], "群发通知", clientmsgid="bc-1")
    assert dup.value.errcode == 45065  # the same clientmsgid is not sent twice
    qr = await gw.create_qrcode("k9Xz2", expire_seconds=3600)
    assert stack.fake.qrcodes[qr.ticket] == "k9Xz2" and qr.expire_seconds == 3600
    await gw.create_menu({"button": [{"type": "click", "name": "帮助", "key": "MENU_HELP"}]})
    assert stack.fake.menu is not None
    apis = [(s.api, s.openid) for s in stack.fake.sends if s.api != "passive"]
    assert apis == [("template", openid), ("subscribe", openid), ("mass", openid), ("mass", openid)]
    assert [s.content for s in stack.sends(openid, "mass")] == [
        {"media_id": voice.media_id, "msg_id": voice_id},
        {"content": "群发通知", "msg_id": mass_id},
    ]


@pytest.mark.parametrize(
    ("errcode", "error"),
    [
        (-1, Busy),
        (43004, NotFollowing),
        (45009, DailyQuotaReached),
        (45015, OutsideReplyWindow),
        (45047, ReplyCountExceeded),
        (45162, InvalidMessageType),
        (40001, InvalidCredential),
        (42001, TokenExpired),
        (40003, WeChatError),
    ],
)
async def test_typed_errors(stack: Stack, errcode: int, error: type[WeChatError]) -> None:
    openid = await follower(stack)
    stack.fake.faults.append(Fault(CUSTOM, errcode, -1))
    with pytest.raises(error) as raised:
        await stack.gateway.send_text(openid, "x")
    assert type(raised.value) is error and raised.value.errcode == errcode
    assert (
        Busy(-1).retryable and DailyQuotaReached(45009).retryable and not OutsideReplyWindow(45015).retryable
    )


async def test_fifty_concurrent_sends_fetch_one_token(stack: Stack) -> None:
    openids = [await follower(stack, f"o-{i}") for i in range(50)]
    await asyncio.gather(*(stack.gateway.send_text(o, "通知") for o in openids))
    assert stack.fake.token_fetches == 1
    assert len(stack.sends(api="custom")) == 50
    assert metric(stack.client, "partybot_token_refreshes_total") == 1


async def test_a_token_refused_forever_is_refreshed_once_then_a_typed_error(stack: Stack) -> None:
    from bot.dev.fake_wechat import Fault

    openid = await follower(stack)
    stack.fake.faults.append(Fault(CUSTOM, 40001, -1))
    with pytest.raises(InvalidCredential):
        await stack.gateway.send_text(openid, "x")
    assert stack.fake.token_fetches == 2  # the first token, then exactly one refresh


async def test_an_invalidated_token_is_replaced_and_the_call_retried(stack: Stack) -> None:
    openid = await follower(stack)
    await stack.gateway.send_text(openid, "一")
    stack.fake.tokens.clear()  # e.g. someone forced a refresh elsewhere
    await stack.gateway.send_text(openid, "二")
    assert stack.fake.token_fetches == 2 and len(stack.sends(openid, "custom")) == 2


async def test_an_expired_token_is_renewed_before_the_call(stack: Stack, clock: FixedClock) -> None:
    openid = await follower(stack)
    await stack.gateway.send_text(openid, "一")
    clock.advance(7200 - 60)  # inside the gateway's early-refresh margin
    await stack.gateway.send_text(openid, "二")
    assert stack.fake.token_fetches == 2


async def test_the_token_is_shared_through_the_database(
    make_stack: StackFactory, make_settings: Any, make_client: Any
) -> None:
    from bot.app import GATEWAY

    stack = await make_stack()
    openid = await follower(stack)
    await stack.gateway.send_text(openid, "一")
    # A second process on the same database and the same WeChat account.
    other = await make_client(settings=stack.client.app[GATEWAY].settings)
    await other.app[GATEWAY].send_text(openid, "二")
    assert stack.fake.token_fetches == 1


@pytest.mark.parametrize(
    ("account", "refused"),
    [
        (AccountKind.UNVERIFIED, ["send_text", "send_template", "mass_send_text", "create_qrcode"]),
        (AccountKind.SUBSCRIPTION, ["send_template", "create_qrcode"]),
    ],
)
async def test_the_account_kind_refuses_before_any_request(
    make_stack: StackFactory, account: AccountKind, refused: list[str]
) -> None:
    stack = await make_stack(account=account)
    gw: WeChatGateway = stack.gateway
    calls: dict[str, Any] = {
        "send_text": lambda: gw.send_text("o-1", "x"),
        "send_template": lambda: gw.send_template("o-1", "T", {}),
        "mass_send_text": lambda: gw.mass_send_text(["o-1"], "x", "c-1"),
        "create_qrcode": lambda: gw.create_qrcode("s"),
    }
    for name in refused:
        with pytest.raises(NotAllowedForAccount):
            await calls[name]()
    assert stack.fake.token_fetches == 0 and stack.fake.sends == []


async def test_unreachable_wechat_is_a_retryable_error(make_stack: StackFactory) -> None:
    from tests.test_serve_process import free_port

    stack = await make_stack(wechat_api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Unreachable) as raised:
        await stack.gateway.send_text("o-1", "x")
    assert raised.value.retryable


# --- the customer-service window, as the fake enforces it --------------------------------------------


async def test_a_message_allows_five_sends_then_45047(stack: Stack) -> None:
    openid = await follower(stack)
    for i in range(5):
        await stack.gateway.send_text(openid, f"第{i}条")
    with pytest.raises(ReplyCountExceeded):
        await stack.gateway.send_text(openid, "第6条")


async def test_a_click_allows_three_within_a_minute(stack: Stack, clock: FixedClock) -> None:
    await stack.act("o-click", type="event", event="subscribe")
    clock.advance(3600)
    await stack.act("o-click", type="event", event="CLICK", event_key="MENU_HELP")
    for _ in range(3):
        await stack.gateway.send_text("o-click", "x")
    with pytest.raises(ReplyCountExceeded):
        await stack.gateway.send_text("o-click", "x")
    await stack.act("o-click", type="event", event="CLICK", event_key="MENU_BIND")
    clock.advance(61)
    with pytest.raises(OutsideReplyWindow):
        await stack.gateway.send_text("o-click", "x")


async def test_48_hours_after_a_message_is_45015(stack: Stack, clock: FixedClock) -> None:
    openid = await follower(stack)
    clock.advance(timedelta(hours=47, minutes=59).total_seconds())
    await stack.gateway.send_text(openid, "还在窗口内")
    clock.advance(120)
    with pytest.raises(OutsideReplyWindow):
        await stack.gateway.send_text(openid, "已过48小时")
    with pytest.raises(NotFollowing):
        await stack.gateway.send_text("o-stranger", "x")
