"""Safe (安全) and compatible (兼容) mode: encrypted round trips and an EncodingAESKey rotation."""

from __future__ import annotations

from typing import Any

from bot.clock import FixedClock
from bot.dev.simulate import sign_request
from bot.settings import MessageMode
from bot.wechat.wire import Cipher, message_xml
from tests.conftest import AES_KEY, AES_KEY_OLD, APPID, AppFactory
from tests.helpers import row_counts
from tests.test_menu import MENU
from tests.wechat import TOKEN, WeChatUser


async def test_safe_mode_round_trip(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(wechat_aes_key=AES_KEY)
    user = WeChatUser(client, clock, "o-safe", cipher=Cipher(APPID, AES_KEY))
    result = await user.send("帮助")
    assert "<Encrypt>" in result.body and "菜单" not in result.body  # nothing readable on the wire
    assert result.text == MENU


async def test_safe_mode_refuses_plaintext(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(wechat_aes_key=AES_KEY)
    result = await WeChatUser(client, clock, "o-plain").send("帮助")
    assert result.status == 403
    assert set((await row_counts(client)).values()) == {0}


async def test_compatible_mode_takes_both(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(wechat_aes_key=AES_KEY, wechat_mode=MessageMode.COMPATIBLE)
    encrypted = WeChatUser(client, clock, "o-c1", cipher=Cipher(APPID, AES_KEY), compatible=True)
    result = await encrypted.send("菜单")
    assert "<Encrypt>" in result.body and result.text == MENU
    plain = WeChatUser(client, clock, "o-c2")
    assert (await plain.send("菜单")).text == MENU


async def test_key_rotation_accepts_the_previous_key(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(wechat_aes_key=AES_KEY, wechat_aes_key_previous=AES_KEY_OLD)
    # A message WeChat still encrypts with the old key is read, and answered with that key.
    old = WeChatUser(client, clock, "o-rot", cipher=Cipher(APPID, AES_KEY_OLD))
    assert (await old.send("帮助")).text == MENU
    new = WeChatUser(client, clock, "o-rot", cipher=Cipher(APPID, AES_KEY))
    assert (await new.send("帮助")).text == MENU


async def test_after_rotation_without_previous_key_old_messages_fail(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make_client(wechat_aes_key=AES_KEY)
    old = WeChatUser(client, clock, "o-rot", cipher=Cipher(APPID, AES_KEY_OLD))
    assert (await old.send("帮助")).status == 400


async def test_unknown_key_is_400_and_writes_nothing(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(wechat_aes_key=AES_KEY)
    stranger = WeChatUser(client, clock, "o-x", cipher=Cipher(APPID, AES_KEY_OLD))
    assert (await stranger.send("帮助")).status == 400
    wrong_app = WeChatUser(client, clock, "o-y", cipher=Cipher("wxotherapp", AES_KEY))
    assert (await wrong_app.send("帮助")).status == 400
    assert set((await row_counts(client)).values()) == {0}


async def test_bad_msg_signature_is_403(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(wechat_aes_key=AES_KEY)
    user = WeChatUser(client, clock, "o-s", cipher=Cipher(APPID, AES_KEY))
    signed = sign_request(
        TOKEN, message_xml(user.fields("text", Content="帮助")), int(clock.time()), cipher=user.cipher
    )
    query: dict[str, Any] = {**signed.query, "msg_signature": "0" * 40}
    assert (await user.post_raw(query, signed.body.encode())).status == 403
    assert set((await row_counts(client)).values()) == {0}


async def test_encrypted_message_without_a_configured_key_is_400(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make_client()
    user = WeChatUser(client, clock, "o-k", cipher=Cipher(APPID, AES_KEY))
    assert (await user.send("帮助")).status == 400
