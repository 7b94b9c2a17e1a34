"""The webhook's edge: signatures, freshness, the handshake, malformed, hostile and huge bodies."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.clock import FixedClock
from bot.dev.simulate import sign_request
from bot.wechat.wire import message_xml, sign
from tests.conftest import AppFactory
from tests.helpers import row_counts
from tests.wechat import TOKEN, WeChatUser


def test_official_signature_vectors() -> None:
    # WECHAT.md (subscription/guide/dev/push/encryption.md).
    assert sign("AAAAA", "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert sign("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"


@pytest.mark.parametrize(
    ("timestamp", "nonce", "signature"),
    [
        ("1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
        ("1714037059", "486452656", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
    ],
)
async def test_url_verification_with_the_official_vectors(
    make_client: AppFactory, clock: FixedClock, timestamp: str, nonce: str, signature: str
) -> None:
    clock.set(int(timestamp) + 10)
    client = await make_client(wechat_token="AAAAA")
    query = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": "e-4312"}
    resp = await client.get("/wechat", params=query)
    assert (resp.status, await resp.text()) == (200, "e-4312")
    resp = await client.get("/wechat", params={**query, "signature": signature[:-1] + "0"})
    assert resp.status == 403
    clock.set(int(timestamp) + 301)  # the default SIGNATURE_MAX_AGE_S is 300
    resp = await client.get("/wechat", params=query)
    assert resp.status == 403


def _signed(user: WeChatUser, text: str = "帮助") -> tuple[dict[str, str], bytes]:
    signed = sign_request(TOKEN, message_xml(user.fields("text", Content=text)), int(user.clock.time()))
    return signed.query, signed.body.encode()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda q: {**q, "signature": "0" * 40},
        lambda q: {k: v for k, v in q.items() if k != "signature"},
        lambda q: {**q, "nonce": q["nonce"] + "1"},
        lambda q: {**q, "timestamp": "abc"},
        lambda q: {},
    ],
    ids=["wrong", "missing", "nonce-changed", "timestamp-not-a-number", "no-query"],
)
async def test_bad_signature_is_403_and_writes_nothing(
    client: TestClient[Any, Any], user: WeChatUser, tamper: Any
) -> None:
    query, body = _signed(user)
    result = await user.post_raw(tamper(query), body)
    assert result.status == 403
    assert set((await row_counts(client)).values()) == {0}


async def test_stale_or_future_timestamp_is_403_and_writes_nothing(
    client: TestClient[Any, Any], user: WeChatUser, clock: FixedClock
) -> None:
    xml = message_xml(user.fields("text", Content="帮助"))
    now = int(clock.time())
    assert (await user.post_xml(xml, timestamp=now - 301)).status == 403
    assert (await user.post_xml(xml, timestamp=now + 301)).status == 403
    assert set((await row_counts(client)).values()) == {0}
    assert (await user.post_xml(xml, timestamp=now - 299)).status == 200


async def test_a_replayed_request_past_the_window_is_refused(
    client: TestClient[Any, Any], user: WeChatUser, clock: FixedClock
) -> None:
    query, body = _signed(user)
    assert (await user.post_raw(query, body)).status == 200
    clock.advance(301)
    assert (await user.post_raw(query, body)).status == 403


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><ToUserName>a</ToUserName>",
        b"not xml at all",
        b"",
        b"<other><a>1</a></other>",
        b"<xml><ToUserName>a</ToUserName><MsgType>text</MsgType></xml>",
        b"<xml><ToUserName>a</ToUserName><FromUserName>o</FromUserName><CreateTime>x</CreateTime>"
        b"<MsgType>text</MsgType></xml>",
        b"<xml><ToUserName>a</ToUserName><FromUserName><b>1</b></FromUserName><CreateTime>1</CreateTime>"
        b"<MsgType>text</MsgType></xml>",
        "<xml><Content>\udcff</Content></xml>".encode("utf-8", "surrogatepass"),
        b'{"ToUserName": "a"}',
    ],
    ids=["truncated", "text", "empty", "wrong-root", "no-sender", "bad-time", "nested", "bad-utf8", "json"],
)
async def test_malformed_bodies_are_400(client: TestClient[Any, Any], user: WeChatUser, body: bytes) -> None:
    query, _ = _signed(user)
    result = await user.post_raw(query, body)
    assert result.status == 400
    assert set((await row_counts(client)).values()) == {0}


async def test_entity_declarations_are_400(client: TestClient[Any, Any], user: WeChatUser) -> None:
    query, _ = _signed(user)
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        "<xml><ToUserName>gh</ToUserName><FromUserName>o-x</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>&c;</Content><MsgId>1</MsgId></xml>"
    )
    assert (await user.post_raw(query, bomb.encode())).status == 400
    external = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<xml><ToUserName>gh</ToUserName><FromUserName>o-x</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>"
    )
    assert (await user.post_raw(query, external.encode())).status == 400
    assert set((await row_counts(client)).values()) == {0}


async def test_oversize_body_is_413(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(max_body_bytes=4096)
    user = WeChatUser(client, clock, "o-big")
    result = await user.send("长" * 3000)
    assert result.status == 413
    assert set((await row_counts(client)).values()) == {0}
    assert (await user.send("帮助")).status == 200


async def test_get_without_echostr_is_400(client: TestClient[Any, Any], clock: FixedClock) -> None:
    ts = str(int(clock.time()))
    resp = await client.get(
        "/wechat", params={"signature": sign(TOKEN, ts, "1"), "timestamp": ts, "nonce": "1"}
    )
    assert resp.status == 400


async def test_healthz_and_metrics(client: TestClient[Any, Any], user: WeChatUser) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json()) == {"status": "ok", "database": "ok"}
    await user.send("帮助")
    await user.post_raw({}, b"")
    resp = await client.get("/metrics")
    text = await resp.text()
    assert resp.status == 200
    assert 'partybot_replies_total{route="help.show_menu"} 1.0' in text
    assert 'partybot_webhook_requests_total{status="403"} 1.0' in text
    assert "partybot_webhook_seconds_bucket" in text
