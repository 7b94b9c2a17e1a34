"""The WeChat API gateway: the only code that calls WeChat.

Async on one aiohttp ClientSession. The access_token comes from ``stable_token`` (normal mode does not
invalidate the token other processes hold), is shared through the database or Redis, refreshed single-flight,
and on 40001/42001 refreshed once and the call retried once, never in a loop (WECHAT.md, Outbound).
What the account kind cannot call is refused before any request is made.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.metrics import Metrics
from bot.settings import AccountKind, Settings
from bot.wechat.account import Capability, allowed
from bot.wechat.errors import (
    InvalidCredential,
    NotAllowedForAccount,
    TokenExpired,
    Unreachable,
    WeChatError,
    error_for,
)
from models import AccessToken
from models.db import Database, dialect_insert

log = logging.getLogger(__name__)


# --- the shared token -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: datetime


class TokenStore(Protocol):
    async def load(self) -> Token | None: ...

    async def save(self, token: Token) -> None: ...


class DatabaseTokenStore:
    def __init__(self, db: Database, appid: str, clock: Clock) -> None:
        self._db, self._appid, self._clock = db, appid, clock

    async def load(self) -> Token | None:
        async with self._db.read() as session:
            row = await session.scalar(select(AccessToken).where(AccessToken.appid == self._appid))
        return Token(row.token, row.expires_at) if row else None

    async def save(self, token: Token) -> None:
        values = {
            "appid": self._appid,
            "token": token.value,
            "expires_at": token.expires_at,
            "updated_at": self._clock.now(),
        }

        def upsert(session: Session) -> None:
            # An upsert, not read-then-insert: two processes saving their first token at once must not
            # collide on the primary key.
            statement = dialect_insert(session)(AccessToken).values(**values)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["appid"],
                    set_={k: v for k, v in values.items() if k != "appid"},
                )
            )

        await self._db.run(upsert)


class RedisTokenStore:
    def __init__(self, redis: Redis, prefix: str, appid: str) -> None:
        self._redis, self._key = redis, f"{prefix}token:{appid}"

    async def load(self) -> Token | None:
        raw = await self._redis.get(self._key)
        if raw is None:
            return None
        data = json.loads(raw)
        return Token(data["value"], datetime.fromisoformat(data["expires_at"]))

    async def save(self, token: Token) -> None:
        await self._redis.set(
            self._key, json.dumps({"value": token.value, "expires_at": token.expires_at.isoformat()})
        )


# --- the gateway ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Media:
    media_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class QRCode:
    ticket: str
    url: str
    expire_seconds: int


class WeChatGateway:
    # Refresh a little before WeChat's expiry so a call never carries a token about to lapse.
    EARLY_REFRESH = timedelta(minutes=5)

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        tokens: TokenStore,
        clock: Clock,
        metrics: Metrics,
        timeout_s: float = 10.0,
    ) -> None:
        self.settings, self._session, self._tokens, self._clock, self._metrics = (
            settings,
            session,
            tokens,
            clock,
            metrics,
        )
        self._base = settings.wechat_api_base.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._cached: Token | None = None
        self._refresh_lock = asyncio.Lock()

    @property
    def account(self) -> AccountKind:
        return self.settings.wechat_account

    def can(self, capability: Capability) -> bool:
        return allowed(self.account, capability)

    # token

    def _fresh(self, token: Token | None) -> bool:
        return token is not None and self._clock.now() < token.expires_at - self.EARLY_REFRESH

    async def access_token(self) -> str:
        if self._fresh(self._cached):
            assert self._cached is not None
            return self._cached.value
        return (await self._refresh(stale=None)).value

    async def _refresh(self, stale: str | None) -> Token:
        """Single flight: one caller fetches, the others wait and reuse its token. `stale` is a token
        WeChat just refused; a shared token other than it is taken as already refreshed."""
        async with self._refresh_lock:
            if self._cached is not None and self._cached.value != stale and self._fresh(self._cached):
                return self._cached
            shared = await self._tokens.load()
            if shared is not None and shared.value != stale and self._fresh(shared):
                self._cached = shared
                return shared
            token = await self._fetch_token(force=stale is not None)
            await self._tokens.save(token)
            self._cached = token
            return token

    async def _fetch_token(self, force: bool) -> Token:
        self._metrics.token_refreshes.inc()
        body = {
            "grant_type": "client_credential",
            "appid": self.settings.wechat_appid,
            "secret": self.settings.wechat_secret,
            # force_refresh is limited to 20 a day; only after WeChat refused the current token.
            "force_refresh": force,
        }
        data = await self._request("POST", "/cgi-bin/stable_token", json_body=body)
        value, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(value, str) or not isinstance(expires_in, int):
            raise Unreachable(-2, f"stable_token answered without a token: {data!r}")
        log.info("access_token refreshed", extra={"expires_in": expires_in, "forced": force})
        return Token(value, self._clock.now() + timedelta(seconds=expires_in))

    # transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
        raw: bool = False,
    ) -> dict[str, Any]:
        url = f"{self._base}{path}"
        payload = None if json_body is None else json.dumps(json_body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"} if payload is not None else None
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                data=payload if payload is not None else data,
                headers=headers,
                timeout=self._timeout,
            ) as resp:
                if resp.status >= 500:
                    raise Unreachable(-3, f"HTTP {resp.status} from {path}")
                content_type = resp.headers.get("Content-Type", "")
                if raw and "application/json" not in content_type and "text/plain" not in content_type:
                    return {"errcode": 0, "_body": await resp.read(), "_type": content_type}
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unreachable(-4, f"{type(exc).__name__} calling {path}") from exc
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise Unreachable(-5, f"non-JSON answer from {path}") from exc
        if not isinstance(parsed, dict):
            raise Unreachable(-5, f"unexpected answer from {path}")
        errcode = parsed.get("errcode", 0)
        if errcode:
            raise error_for(int(errcode), str(parsed.get("errmsg", "")))
        return parsed

    async def call(
        self,
        capability: Capability,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
        raw: bool = False,
    ) -> dict[str, Any]:
        """Call an API with the shared token; on 40001/42001 refresh once and retry once."""
        if not self.can(capability):
            raise NotAllowedForAccount(
                48001, f"a {self.account.value} account cannot use {capability.value} ({path})"
            )
        token = await self.access_token()
        for attempt in (1, 2):
            query = {**(params or {}), "access_token": token}
            try:
                return await self._request(
                    method, path, params=query, json_body=json_body, data=data, raw=raw
                )
            except (InvalidCredential, TokenExpired):
                if attempt == 2:
                    raise
                token = (await self._refresh(stale=token)).value
        raise AssertionError("unreachable")  # pragma: no cover

    # customer-service messages (客服消息)

    async def send_text(self, openid: str, text: str) -> None:
        await self._custom(openid, "text", {"content": text})

    async def send_voice(self, openid: str, media_id: str) -> None:
        await self._custom(openid, "voice", {"media_id": media_id})

    async def send_image(self, openid: str, media_id: str) -> None:
        await self._custom(openid, "image", {"media_id": media_id})

    async def send_news(self, openid: str, title: str, description: str, url: str, picurl: str = "") -> None:
        article = {"title": title, "description": description, "url": url, "picurl": picurl}
        await self._custom(openid, "news", {"articles": [article]})

    async def _custom(self, openid: str, msgtype: str, body: dict[str, Any]) -> None:
        await self.call(
            Capability.CUSTOMER_SERVICE,
            "POST",
            "/cgi-bin/message/custom/send",
            json_body={"touser": openid, "msgtype": msgtype, msgtype: body},
        )

    # notices

    @staticmethod
    def _notice(
        openid: str, template_id: str, data: Mapping[str, str], **extra: str | None
    ) -> dict[str, Any]:
        # Since May 2023 `first` and `remark` are dropped; values are plain {"value": ...}.
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {k: {"value": v} for k, v in data.items()},
        }
        body.update({k: v for k, v in extra.items() if v})
        return body

    async def send_template(
        self, openid: str, template_id: str, data: Mapping[str, str], url: str | None = None
    ) -> int:
        body = self._notice(openid, template_id, data, url=url)
        answer = await self.call(
            Capability.TEMPLATE, "POST", "/cgi-bin/message/template/send", json_body=body
        )
        return int(answer["msgid"])

    async def send_subscription(
        self, openid: str, template_id: str, data: Mapping[str, str], page: str | None = None
    ) -> None:
        body = self._notice(openid, template_id, data, page=page)
        await self.call(
            Capability.SUBSCRIPTION_NOTICE, "POST", "/cgi-bin/message/subscribe/bizsend", json_body=body
        )

    async def mass_send_text(self, openids: list[str], text: str, clientmsgid: str) -> int:
        """群发 to a list of followers; `clientmsgid` makes a retry safe (WeChat drops a duplicate)."""
        body = {"touser": openids, "msgtype": "text", "text": {"content": text}, "clientmsgid": clientmsgid}
        answer = await self.call(Capability.MASS_SEND, "POST", "/cgi-bin/message/mass/send", json_body=body)
        return int(answer["msg_id"])

    async def mass_send_voice(self, openids: list[str], media_id: str, clientmsgid: str) -> int:
        body = {
            "touser": openids,
            "msgtype": "voice",
            "voice": {"media_id": media_id},
            "clientmsgid": clientmsgid,
        }
        answer = await self.call(Capability.MASS_SEND, "POST", "/cgi-bin/message/mass/send", json_body=body)
        return int(answer["msg_id"])

    # media, QR codes, menu

    async def upload_media(self, kind: str, filename: str, content: bytes, content_type: str) -> Media:
        """Temporary media (kept 3 days by WeChat; voice ≤ 2 MB, ≤ 60 s, AMR or MP3)."""
        form = aiohttp.FormData()
        form.add_field("media", content, filename=filename, content_type=content_type)
        answer = await self.call(
            Capability.MEDIA, "POST", "/cgi-bin/media/upload", params={"type": kind}, data=form
        )
        return Media(str(answer["media_id"]), int(answer["created_at"]))

    async def get_media(self, media_id: str) -> bytes:
        answer = await self.call(
            Capability.MEDIA, "GET", "/cgi-bin/media/get", params={"media_id": media_id}, raw=True
        )
        body = answer.get("_body")
        if not isinstance(body, bytes):
            raise WeChatError(-6, "media/get answered JSON without an error")
        return body

    async def create_qrcode(self, scene: str, expire_seconds: int = 30 * 86400) -> QRCode:
        """A temporary parametric QR code; the scene is an opaque single-use token, never a member number."""
        body = {
            "expire_seconds": expire_seconds,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        answer = await self.call(Capability.QRCODE, "POST", "/cgi-bin/qrcode/create", json_body=body)
        return QRCode(
            str(answer["ticket"]), str(answer["url"]), int(answer.get("expire_seconds", expire_seconds))
        )

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        await self.call(Capability.MENU, "POST", "/cgi-bin/menu/create", json_body=menu)
