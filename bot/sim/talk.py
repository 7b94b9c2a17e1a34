"""Talking to the fake WeChat's dev endpoints (bot/dev/fake_wechat.py `/sim/...`) as a WeChat user: the
terminal `partybot chat` and the web simulator (bot/sim/web.py) share this client and the way a reply or
a push is described. Nothing here imports the fake itself: it is reached over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp

PUSH_LABELS = {"custom": "客服消息", "template": "模板消息", "subscribe": "订阅通知", "mass": "群发"}


def describe(message: dict[str, Any]) -> str:
    """How a passive reply (or a push) looks as text."""
    kind = str(message.get("MsgType") or message.get("msgtype") or "")
    if kind == "text":
        return str(message.get("Content", message.get("content", "")))
    if kind == "voice":
        return "[语音]"
    if kind == "image":
        return "[图片]"
    if kind == "news":
        return "[图文] " + str(message.get("Title", ""))
    return f"[{kind}]"


def push_label(push: dict[str, Any]) -> str:
    """Which API brought a push: 客服消息, 模板消息, 订阅通知, 群发."""
    api = str(push["api"])
    return PUSH_LABELS.get(api, api)


def push_body(push: dict[str, Any]) -> str:
    """What a push says: its text, a template's field values as one line (the field names, thing1 …, mean
    nothing to a reader: WeChat shows the template's own labels), [语音], [图文] and its titles."""
    api, content = push["api"], push["content"]
    if push["msgtype"] == "text":
        return str(content.get("content", ""))
    if api in ("template", "subscribe"):
        return "；".join(str(v.get("value", v)) for v in (content.get("data") or {}).values())
    if push["msgtype"] == "voice":
        return "[语音]"
    if push["msgtype"] == "news":
        return "[图文] " + "；".join(a.get("title", "") for a in content.get("articles", []))
    return f"[{push['msgtype']}]"


def push_text(push: dict[str, Any]) -> str:
    return f"[{push_label(push)}] {push_body(push)}"


def voice_media(send: dict[str, Any]) -> str | None:
    """The media_id of a voice message the bot sent (a passive reply or a push), else None."""
    content = send.get("content") or {}
    if send.get("api") == "passive":
        if content.get("MsgType") == "voice":
            return str(content.get("MediaId") or "") or None
        return None
    if send.get("msgtype") == "voice":
        return str(content.get("media_id") or "") or None
    return None


class FakeApi:
    """The fake WeChat's dev endpoints over HTTP, on a session the caller owns."""

    def __init__(self, session: aiohttp.ClientSession, fake_url: str) -> None:
        self.session, self.fake_url = session, fake_url.rstrip("/")

    async def sends(self, openid: str, after: int = 0) -> list[dict[str, Any]]:
        """What reached this user (passive replies included), oldest first."""
        params = {"openid": openid, "after": str(after)}
        async with self.session.get(f"{self.fake_url}/sim/sends", params=params) as resp:
            data: list[dict[str, Any]] = await resp.json()
            return data

    async def stats(self) -> dict[str, Any]:
        """`instance` (tells one run of the fake from the next) and `sends` (the last send's id)."""
        async with self.session.get(f"{self.fake_url}/sim/stats") as resp:
            data: dict[str, Any] = await resp.json()
            return data

    async def user(self, openid: str) -> dict[str, Any]:
        async with self.session.get(f"{self.fake_url}/sim/users/{openid}") as resp:
            data: dict[str, Any] = await resp.json()
            return data

    async def act(self, openid: str, action: dict[str, Any]) -> dict[str, Any]:
        """The user does something (a message, an event): the fake delivers it to the webhook and answers
        with the passive reply (`reply`) or the `error` WeChat would show."""
        async with self.session.post(
            f"{self.fake_url}/sim/message", json={"openid": openid, **action}
        ) as resp:
            data: dict[str, Any] = await resp.json()
            return data
