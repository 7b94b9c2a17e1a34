"""The fake WeChat API behaves as WeChat does where partybot depends on it."""

from __future__ import annotations

from typing import Any

import pytest

from bot.clock import FixedClock
from bot.dev.fake_wechat import Fault
from bot.settings import AccountKind
from bot.wechat.errors import DailyQuotaReached, WeChatError
from bot.wechat.wire import Cipher
from tests.conftest import AES_KEY, StackFactory
from tests.test_dedupe_budget import Gate
from tests.test_gateway import follower


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("/cgi-bin/message/template/send", lambda gw, o: gw.send_template(o, "T", {"a": "b"})),
        ("/cgi-bin/message/subscribe/bizsend", lambda gw, o: gw.send_subscription(o, "S", {"a": "b"})),
        ("/cgi-bin/message/mass/send", lambda gw, o: gw.mass_send_text([o, "o-other"], "x", "c-9")),
        ("/cgi-bin/media/upload", lambda gw, o: gw.upload_media("voice", "a.amr", b"#!AMR\n", "audio/amr")),
        ("/cgi-bin/media/get", lambda gw, o: gw.get_media("MEDIA_x")),
        ("/cgi-bin/qrcode/create", lambda gw, o: gw.create_qrcode("s")),
        ("/cgi-bin/menu/create", lambda gw, o: gw.create_menu({"button": []})),
    ],
)
async def test_every_method_raises_typed_errors(make_stack: StackFactory, path: str, call: Any) -> None:
    stack = await make_stack()
    openid = await follower(stack)
    stack.fake.faults.append(Fault(path, 45009, 1))
    with pytest.raises(DailyQuotaReached):
        await call(stack.gateway, openid)


async def test_unknown_media_is_an_error(make_stack: StackFactory) -> None:
    stack = await make_stack()
    with pytest.raises(WeChatError) as raised:
        await stack.gateway.get_media("MEDIA_unknown")
    assert raised.value.errcode == 40007


async def test_a_service_account_member_gets_at_most_four_mass_sends_a_month(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack()
    openid = await follower(stack)
    for i in range(5):
        await stack.gateway.mass_send_text([openid, "o-other"], f"第{i}次", clientmsgid=f"m-{i}")
    assert len(stack.sends(openid, "mass")) == 4


async def test_a_subscription_account_mass_sends_once_a_day(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack = await make_stack(account=AccountKind.SUBSCRIPTION)
    openid = await follower(stack)
    await stack.gateway.mass_send_text([openid, "o-other"], "今天", clientmsgid="d-1")
    with pytest.raises(WeChatError) as raised:
        await stack.gateway.mass_send_text([openid, "o-other"], "今天第二次", clientmsgid="d-2")
    assert raised.value.errcode == 45028
    clock.advance(86400)
    await stack.gateway.mass_send_text([openid, "o-other"], "明天", clientmsgid="d-3")


async def test_a_webhook_slower_than_wechat_waits_is_retried_then_fails(make_stack: StackFactory) -> None:
    gate = Gate()
    stack = await make_stack(routers=(gate.router(),))
    stack.fake.config.reply_timeout_s = 0.05  # stands in for WeChat's 5 s
    result = await stack.act("o-slowhook", type="text", content="慢")
    assert not result["ok"] and result["attempts"] == 4
    assert result["error"].startswith("该公众号暂时无法提供服务")
    assert gate.runs == 1  # WeChat's three retries were deduplicated
    gate.open.set()


async def test_safe_mode_through_the_fake_and_a_key_mismatch(make_stack: StackFactory) -> None:
    stack = await make_stack(aes_key=AES_KEY)
    result = await stack.act("o-enc", type="text", content="帮助")
    assert result["ok"] and result["reply"]["Content"].startswith("请回复数字")
    # The account's key changed on WeChat's side only: the user sees WeChat's error, as in production.
    stack.fake.cipher = Cipher(stack.fake.config.appid, "Z" * 43)
    bad = await stack.act("o-enc", type="text", content="帮助")
    assert not bad["ok"] and "HTTP 400" in bad["error"]


async def test_the_fake_tells_its_runs_apart_and_keeps_what_users_sent(make_stack: StackFactory) -> None:
    stack = await make_stack()
    other = await make_stack()
    result = await stack.act("o-kept", type="text", content="帮助")
    assert stack.fake.received[result["msg_id"]]["Content"] == "帮助"  # for the demo's console line
    stats = await (await stack.fake_client.get("/sim/stats")).json()
    assert stats["instance"] == stack.fake.instance != other.fake.instance  # chat keys what it showed on it
