"""A WeChat user, as the tests drive one: builds, signs (optionally encrypts) and posts XML to the app
over HTTP, then reads the reply as WeChat would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from bot.clock import FixedClock
from bot.dev.simulate import read_reply, sign_request, user_fields
from bot.wechat.wire import Cipher, message_xml

TOKEN = "partybot-test-token"
ACCOUNT = "gh_partybot"

_msg_ids = itertools.count(7_000_000_000_000_000_001)


@dataclass
class Result:
    status: int
    body: str
    reply: dict[str, Any] | None

    @property
    def text(self) -> str:
        assert self.reply is not None, f"expected a reply, got {self.status} {self.body!r}"
        assert self.reply["MsgType"] == "text"
        return str(self.reply["Content"])


class WeChatUser:
    def __init__(
        self,
        client: TestClient[Any, Any],
        clock: FixedClock,
        openid: str,
        cipher: Cipher | None = None,
        compatible: bool = False,
        token: str = TOKEN,
    ) -> None:
        self.client, self.clock, self.openid = client, clock, openid
        self.cipher, self.compatible, self.token = cipher, compatible, token

    def fields(self, kind: str, msg_id: int | None = None, **extra: Any) -> dict[str, Any]:
        if kind != "event" and msg_id is None:
            msg_id = next(_msg_ids)
        return user_fields(kind, self.openid, ACCOUNT, int(self.clock.time()), msg_id, **extra)

    async def post_fields(self, fields: dict[str, Any], **kw: Any) -> Result:
        return await self.post_xml(message_xml(fields), **kw)

    async def post_xml(self, xml: str, *, timestamp: int | None = None, nonce: str | None = None) -> Result:
        signed = sign_request(
            self.token,
            xml,
            timestamp or int(self.clock.time()),
            cipher=self.cipher,
            compatible=self.compatible,
            nonce=nonce,
        )
        return await self.post_raw(signed.query, signed.body.encode())

    async def post_raw(self, query: dict[str, str], body: bytes) -> Result:
        resp = await self.client.post(
            "/wechat", params=query, data=body, headers={"Content-Type": "text/xml"}
        )
        text = await resp.text()
        reply = read_reply(self.token, text, self.cipher) if resp.status == 200 else None
        if reply is not None:
            assert reply["ToUserName"] == self.openid and reply["FromUserName"] == ACCOUNT
        return Result(resp.status, text, reply)

    async def send(self, text: str, **kw: Any) -> Result:
        return await self.post_fields(self.fields("text", Content=text, **kw))

    async def say(self, recognition: str | None) -> Result:
        return await self.post_fields(
            self.fields("voice", MediaId="media-voice-1", Format="amr", Recognition=recognition)
        )

    async def event(self, event: str, **extra: Any) -> Result:
        return await self.post_fields(self.fields("event", Event=event, **extra))


class ThroughFake:
    """A user acting through the fake WeChat API (which builds, signs, forwards and checks like WeChat),
    with the same methods as WeChatUser."""

    def __init__(self, stack: Any, openid: str) -> None:
        self.stack, self.openid = stack, openid

    async def _act(self, **action: Any) -> Result:
        outcome = await self.stack.act(self.openid, **action)
        assert outcome["ok"], outcome["error"]
        return Result(200, "", outcome["reply"])

    async def send(self, text: str) -> Result:
        return await self._act(type="text", content=text)

    async def say(self, recognition: str | None) -> Result:
        return await self._act(type="voice", recognition=recognition)

    async def event(self, event: str, **extra: Any) -> Result:
        action: dict[str, Any] = {"type": "event", "event": event}
        key = extra.get("EventKey")
        if key is not None and event == "subscribe" and str(key).startswith("qrscene_"):
            action["scene"] = str(key).removeprefix("qrscene_")
        elif key is not None and event == "SCAN":
            action["scene"] = key
        elif key is not None:
            action["event_key"] = key
        return await self._act(**action)
