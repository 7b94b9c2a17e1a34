"""The fake WeChat API: plays both sides of WeChat for local work, the demo, `chat` and the tests.

Inbound (`/sim/...`): a user's action is posted here; the fake records it (opening the customer-service
allowance as WECHAT.md models it), builds the XML, signs (and in safe mode encrypts) it, forwards it to the
webhook, checks the answer as WeChat would (5 s, valid XML, signature) and retries up to 3 times.

Outbound (`/cgi-bin/...`): the API partybot's gateway calls, with token expiry and invalidation, the
customer-service window and count, mass-send caps and `clientmsgid`, the account kind's limits, temporary
media, QR codes and the menu; latency and error injection; a record of every send.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from bot.clock import Clock, SystemClock
from bot.dev.simulate import ReplyError, read_reply, sign_request, user_fields
from bot.settings import AccountKind
from bot.wechat.window import Window, interaction_kind, opened
from bot.wechat.wire import BadRequest, Cipher, message_xml

log = logging.getLogger("partybot.fake_wechat")

MEDIA_LIFETIME = timedelta(days=3)
MASS_PER_USER_PER_MONTH = 4  # verified service account
MASS_CALLS_PER_MINUTE = 60
RECEIVED_KEPT = 1000


@dataclass
class FakeConfig:
    token: str
    appid: str
    secret: str
    webhook_url: str
    aes_key: str | None = None
    compatible: bool = False
    account: AccountKind = AccountKind.SERVICE
    account_id: str = "gh_partybot_demo"
    token_ttl_s: int = 7200
    reply_timeout_s: float = 5.0
    retries: int = 3
    latency_s: float = 0.0
    job_events: bool = True  # push TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH to the webhook


@dataclass
class SendRecord:
    id: int
    openid: str
    api: str  # passive, custom, template, subscribe, mass
    msgtype: str
    content: dict[str, Any]
    at: str


@dataclass
class FakeUser:
    following: bool = False
    window: Window = field(default_factory=Window)
    mass_received: dict[str, int] = field(default_factory=dict)  # "YYYY-MM" -> count


@dataclass
class Fault:
    path: str
    errcode: int
    remaining: int  # -1: forever


class FakeWeChat:
    def __init__(self, config: FakeConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        # Tells one run of the fake from the next (send ids start again at 1): `chat` keys what it has
        # shown on it.
        self.instance = secrets.token_hex(8)
        self.cipher = Cipher(config.appid, config.aes_key) if config.aes_key else None
        self.users: dict[str, FakeUser] = {}
        self.tokens: dict[str, datetime] = {}
        self.current_token: str | None = None
        self.token_fetches = 0
        self.faults: list[Fault] = []
        self.sends: list[SendRecord] = []
        # The latest users' messages by MsgId, for the demo's console (the log line carries only the id).
        self.received: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.media: dict[str, tuple[bytes, str, datetime]] = {}
        self.qrcodes: dict[str, str] = {}
        self.menu: dict[str, Any] | None = None
        self.mass_by_clientmsgid: dict[str, int] = {}
        self.mass_calls: list[float] = []
        # TEMPLATESENDJOBFINISH's Status for the next template sends (tests set a failure).
        self.template_status = "success"
        self._reports: set[asyncio.Task[None]] = set()
        self.held_reports: list[dict[str, Any]] | None = None
        # Tests: push a job report and wait for the webhook's answer before answering the API call, so the
        # report arrives before the caller has written what it sent (a race real traffic can produce).
        self.reports_first = False
        self.first_reports: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._msg_ids = itertools.count(int(self.clock.time()) * 1000)
        self._session: aiohttp.ClientSession | None = None

    # --- app -------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.cleanup_ctx.append(self._client)
        r = app.router
        r.add_post("/sim/message", self.sim_message)
        r.add_get("/sim/sends", self.sim_sends)
        r.add_get("/sim/users/{openid}", self.sim_user)
        r.add_post("/sim/followers", self.sim_followers)
        r.add_post("/sim/faults", self.sim_add_fault)
        r.add_delete("/sim/faults", self.sim_clear_faults)
        r.add_post("/sim/config", self.sim_config)
        r.add_post("/sim/tokens/invalidate", self.sim_invalidate_tokens)
        r.add_get("/sim/stats", self.sim_stats)
        r.add_post("/cgi-bin/stable_token", self.stable_token)
        r.add_get("/cgi-bin/token", self.plain_token)
        r.add_post("/cgi-bin/message/custom/send", self.custom_send)
        r.add_post("/cgi-bin/message/template/send", self.template_send)
        r.add_post("/cgi-bin/message/subscribe/bizsend", self.subscribe_send)
        r.add_post("/cgi-bin/message/mass/send", self.mass_send)
        r.add_post("/cgi-bin/media/upload", self.media_upload)
        r.add_get("/cgi-bin/media/get", self.media_get)
        r.add_post("/cgi-bin/qrcode/create", self.qrcode_create)
        r.add_post("/cgi-bin/menu/create", self.menu_create)
        return app

    async def _client(self, app: web.Application) -> AsyncIterator[None]:
        self._session = aiohttp.ClientSession()
        yield
        await self._session.close()

    def user(self, openid: str) -> FakeUser:
        return self.users.setdefault(openid, FakeUser())

    def record(self, openid: str, api: str, msgtype: str, content: dict[str, Any]) -> SendRecord:
        rec = SendRecord(next(self._ids), openid, api, msgtype, content, self.clock.now().isoformat())
        self.sends.append(rec)
        return rec

    # --- inbound: a user acts ------------------------------------------------------------------

    def build_fields(self, action: dict[str, Any]) -> dict[str, Any]:
        openid = str(action["openid"])
        kind = str(action.get("type", "text"))
        now = int(self.clock.time())
        account = self.config.account_id
        extra: dict[str, Any] = {}
        if kind == "text":
            extra["Content"] = str(action.get("content", ""))
        elif kind == "voice":
            media_id = self._store_media(b"#!AMR\n" + secrets.token_bytes(64), "voice")
            extra.update(MediaId=media_id, Format="amr")
            if action.get("recognition"):
                extra["Recognition"] = str(action["recognition"])
        elif kind == "image":
            media_id = self._store_media(secrets.token_bytes(64), "image")
            extra.update(PicUrl=f"http://mmbiz.example/{media_id}.jpg", MediaId=media_id)
        elif kind == "location":
            extra.update(
                Location_X=action.get("latitude", 0),
                Location_Y=action.get("longitude", 0),
                Scale=action.get("scale", 15),
                Label=action.get("label", ""),
            )
        elif kind == "event":
            event = str(action.get("event", ""))
            extra["Event"] = event
            key = action.get("event_key")
            if event == "subscribe" and action.get("scene"):
                extra.update(EventKey=f"qrscene_{action['scene']}", Ticket=action.get("ticket", "TICKET"))
            elif event == "SCAN":
                extra.update(
                    EventKey=str(action.get("scene", key or "")), Ticket=action.get("ticket", "TICKET")
                )
            elif key is not None:
                extra["EventKey"] = str(key)
            if event == "LOCATION":
                extra.update(
                    Latitude=action.get("latitude", 0),
                    Longitude=action.get("longitude", 0),
                    Precision=action.get("precision", 30),
                )
        else:
            extra.update({k: v for k, v in action.items() if k[:1].isupper()})
        msg_id = None if kind == "event" else next(self._msg_ids)
        return user_fields(kind, openid, account, now, msg_id, **extra)

    def note_interaction(self, openid: str, kind: str, event: str | None) -> None:
        user = self.user(openid)
        if event == "subscribe":
            user.following = True
        elif event == "unsubscribe":
            user.following = False
            user.window = Window()
            return
        elif kind != "event":
            user.following = True  # only followers can write to an account
        user.window = opened(user.window, interaction_kind(kind, event and event.lower()), self.clock.now())

    async def deliver(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Forward to the webhook as WeChat does: sign, encrypt, 5 s, up to 3 retries, check the answer."""
        assert self._session is not None, "the fake's app is not running"
        msg_id = fields.get("MsgId") or fields.get("MsgID")  # a message, or a job report
        if msg_id:
            self.received[int(msg_id)] = fields
            while len(self.received) > RECEIVED_KEPT:
                self.received.popitem(last=False)
        xml = message_xml(fields)
        attempts = 0
        error = "该公众号暂时无法提供服务，请稍后再试"
        while attempts < 1 + self.config.retries:
            attempts += 1
            signed = sign_request(
                self.config.token,
                xml,
                int(self.clock.time()),
                cipher=self.cipher,
                compatible=self.config.compatible,
            )
            try:
                async with self._session.post(
                    self.config.webhook_url,
                    params=signed.query,
                    data=signed.body.encode(),
                    headers={"Content-Type": "text/xml"},
                    timeout=aiohttp.ClientTimeout(total=self.config.reply_timeout_s),
                ) as resp:
                    status, body = resp.status, await resp.text()
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("webhook did not answer (%s), attempt %d", type(exc).__name__, attempts)
                continue
            if status != 200:
                return {
                    "ok": False,
                    "status": status,
                    "reply": None,
                    "attempts": attempts,
                    "error": f"{error}（HTTP {status}）",
                }
            try:
                reply = read_reply(self.config.token, body, self.cipher)
            except (ReplyError, BadRequest) as exc:
                return {
                    "ok": False,
                    "status": status,
                    "reply": None,
                    "attempts": attempts,
                    "error": f"{error}（回复无效：{exc}）",
                }
            if reply is not None and (reply.get("ToUserName") != fields["FromUserName"]):
                return {
                    "ok": False,
                    "status": status,
                    "reply": None,
                    "attempts": attempts,
                    "error": f"{error}（回复的 ToUserName 不对）",
                }
            if reply is not None:
                self.record(str(fields["FromUserName"]), "passive", str(reply.get("MsgType")), reply)
            return {"ok": True, "status": status, "reply": reply, "attempts": attempts, "error": None}
        return {"ok": False, "status": None, "reply": None, "attempts": attempts, "error": error}

    async def act(self, action: dict[str, Any]) -> dict[str, Any]:
        fields = self.build_fields(action)
        self.note_interaction(str(fields["FromUserName"]), str(fields["MsgType"]), fields.get("Event"))
        result = await self.deliver(fields)
        result["msg_id"] = fields.get("MsgId")
        return result

    async def sim_message(self, request: web.Request) -> web.Response:
        action = await request.json()
        if not isinstance(action, dict) or not action.get("openid"):
            return web.json_response({"error": "openid is required"}, status=400)
        return web.json_response(await self.act(action))

    async def sim_sends(self, request: web.Request) -> web.Response:
        openid = request.query.get("openid")
        after = int(request.query.get("after", "0"))
        api = request.query.get("api")
        found = [
            asdict(s)
            for s in self.sends
            if s.id > after and (openid is None or s.openid == openid) and (api is None or s.api == api)
        ]
        return web.json_response(found)

    async def sim_user(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["openid"])
        if user is None:
            return web.json_response({"known": False, "following": False})
        w = user.window
        return web.json_response(
            {
                "known": True,
                "following": user.following,
                "window_kind": w.kind,
                "window_left": w.left,
                "window_expires_at": w.expires_at.isoformat() if w.expires_at else None,
            }
        )

    def follow(self, openids: list[str], window: str | None = None) -> None:
        """Users who follow the account (WeChat knows its followers; the demo and tests seed them), with a
        customer-service allowance opened as by a message ("message") or a click ("event")."""
        for openid in openids:
            user = self.user(openid)
            user.following = True
            if window is not None:
                user.window = opened(user.window, window, self.clock.now())

    async def sim_followers(self, request: web.Request) -> web.Response:
        data = await request.json()
        openids = [str(o) for o in data.get("openids", [])]
        self.follow(openids, data.get("window"))
        return web.json_response({"ok": True, "count": len(openids)})

    async def sim_add_fault(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.faults.append(Fault(str(data["path"]), int(data["errcode"]), int(data.get("times", 1))))
        return web.json_response({"ok": True})

    async def sim_clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"ok": True})

    async def sim_config(self, request: web.Request) -> web.Response:
        data = await request.json()
        if "latency_s" in data:
            self.config.latency_s = float(data["latency_s"])
        if "account" in data:
            self.config.account = AccountKind(data["account"])
        return web.json_response({"ok": True})

    async def sim_invalidate_tokens(self, request: web.Request) -> web.Response:
        self.tokens.clear()
        return web.json_response({"ok": True})

    async def sim_stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "token_fetches": self.token_fetches,
                "sends": len(self.sends),
                "instance": self.instance,
                # The scene of the QR code made last: what a phone in front of the screen would scan.
                "last_scene": next(reversed(self.qrcodes.values()), None),
            }
        )

    # --- outbound: the API -------------------------------------------------------------------------

    @staticmethod
    def error(errcode: int, errmsg: str) -> web.Response:
        return web.json_response({"errcode": errcode, "errmsg": errmsg})

    async def _prelude(self, request: web.Request, *, needs_token: bool = True) -> web.Response | None:
        """Latency, injected faults, then the access_token check."""
        if self.config.latency_s:
            await asyncio.sleep(self.config.latency_s)
        for fault in self.faults:
            if fault.path == request.path and fault.remaining != 0:
                if fault.remaining > 0:
                    fault.remaining -= 1
                return self.error(fault.errcode, "injected by the fake")
        if not needs_token:
            return None
        token = request.query.get("access_token", "")
        expires = self.tokens.get(token)
        if expires is None:
            return self.error(40001, "invalid credential, access_token is invalid or not latest")
        if self.clock.now() >= expires:
            return self.error(42001, "access_token expired")
        return None

    def _follower(self, openid: str) -> FakeUser | None:
        user = self.users.get(openid)
        return user if user is not None and user.following else None

    def _allowed(self, *kinds: AccountKind) -> web.Response | None:
        if self.config.account not in kinds:
            return self.error(48001, "api unauthorized")
        return None

    def _new_token(self) -> str:
        token = "FAKE_" + secrets.token_urlsafe(24)
        self.tokens[token] = self.clock.now() + timedelta(seconds=self.config.token_ttl_s)
        self.current_token = token
        self.token_fetches += 1
        return token

    async def stable_token(self, request: web.Request) -> web.Response:
        if (early := await self._prelude(request, needs_token=False)) is not None:
            return early
        data = await request.json()
        if data.get("appid") != self.config.appid or data.get("secret") != self.config.secret:
            return self.error(40125, "invalid appsecret")
        current = self.current_token
        now = self.clock.now()
        if data.get("force_refresh"):
            # Force mode invalidates the previous token at once.
            if current is not None:
                self.tokens.pop(current, None)
            current = None
        # Normal mode returns the current token, except in its last 5 minutes, when WeChat issues the
        # next one early (the old one stays valid until it expires).
        if (
            current is None
            or current not in self.tokens
            or self.tokens[current] - now <= timedelta(minutes=5)
        ):
            current = self._new_token()
        remaining = int((self.tokens[current] - now).total_seconds())
        return web.json_response({"access_token": current, "expires_in": remaining})

    async def plain_token(self, request: web.Request) -> web.Response:
        if (early := await self._prelude(request, needs_token=False)) is not None:
            return early
        if (
            request.query.get("appid") != self.config.appid
            or request.query.get("secret") != self.config.secret
        ):
            return self.error(40125, "invalid appsecret")
        old = self.current_token
        token = self._new_token()
        if old is not None and old in self.tokens:
            # The old token stays valid for a 5-minute overlap.
            self.tokens[old] = min(self.tokens[old], self.clock.now() + timedelta(minutes=5))
        return web.json_response({"access_token": token, "expires_in": self.config.token_ttl_s})

    async def custom_send(self, request: web.Request) -> web.Response:
        if (early := await self._prelude(request)) is not None:
            return early
        if (refused := self._allowed(AccountKind.SERVICE, AccountKind.SUBSCRIPTION)) is not None:
            return refused
        data = await request.json()
        openid, msgtype = str(data.get("touser", "")), str(data.get("msgtype", ""))
        user = self._follower(openid)
        if user is None:
            return self.error(43004, "require subscribe")
        now = self.clock.now()
        w = user.window
        if w.expires_at is None or now >= w.expires_at:
            return self.error(45015, "response out of time limit or subscription is canceled")
        if w.left <= 0:
            return self.error(45047, "out of response count limit")
        if msgtype not in ("text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu"):
            return self.error(45162, "invalid message type")
        user.window = w.use(now)
        self.record(openid, "custom", msgtype, data.get(msgtype, {}))
        return self.error(0, "ok")

    async def template_send(self, request: web.Request) -> web.Response:
        if (early := await self._prelude(request)) is not None:
            return early
        if (refused := self._allowed(AccountKind.SERVICE)) is not None:
            return refused
        data = await request.json()
        openid = str(data.get("touser", ""))
        user = self._follower(openid)
        if user is None:
            return self.error(43004, "require subscribe")
        rec = self.record(
            openid,
            "template",
            "template",
            {"template_id": data.get("template_id"), "data": data.get("data"), "url": data.get("url")},
        )
        msgid = 200_000_000 + rec.id
        self._report(openid, "TEMPLATESENDJOBFINISH", MsgID=msgid, Status=self.template_status)
        await self._push_first()
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def _report(self, openid: str, event: str, **values: Any) -> None:
        """WeChat reports a template or mass send's outcome later, as an event pushed to the webhook."""
        if not self.config.job_events or not self.config.webhook_url:
            return
        fields = {
            "ToUserName": self.config.account_id,
            "FromUserName": openid,
            "CreateTime": str(int(self.clock.time())),
            "MsgType": "event",
            "Event": event,
            **{k: str(v) for k, v in values.items()},
        }
        if self.held_reports is not None:
            self.held_reports.append(fields)
            return
        if self.reports_first:
            self.first_reports.append(fields)
            return
        task = asyncio.get_running_loop().create_task(self._push(fields))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _push(self, fields: dict[str, Any]) -> None:
        try:
            await self.deliver(fields)
        except Exception:  # a report that cannot be delivered is dropped, as WeChat would after retries
            log.warning("could not push %s to the webhook", fields.get("Event"), exc_info=True)

    async def _push_first(self) -> None:
        first, self.first_reports = self.first_reports, []
        for fields in first:
            await self._push(fields)

    def hold_reports(self) -> None:
        """Keep job reports back until `release_reports` (tests that need them to arrive together)."""
        self.held_reports = []

    async def release_reports(self) -> None:
        held, self.held_reports = self.held_reports or [], None
        for fields in held:
            await self._push(fields)

    async def settle(self) -> None:
        """Wait for pushed reports (tests)."""
        while self._reports:
            await asyncio.gather(*list(self._reports), return_exceptions=True)

    async def subscribe_send(self, request: web.Request) -> web.Response:
        if (early := await self._prelude(request)) is not None:
            return early
        if (refused := self._allowed(AccountKind.SERVICE, AccountKind.SUBSCRIPTION)) is not None:
            return refused
        data = await request.json()
        openid = str(data.get("touser", ""))
        user = self._follower(openid)
        if user is None:
            return self.error(43004, "require subscribe")
        self.record(
            openid,
            "subscribe",
            "subscribe",
            {"template_id": data.get("template_id"), "data": data.get("data"), "page": data.get("page")},
        )
        return self.error(0, "ok")

    async def mass_send(self, request: web.Request) -> web.Response:
        if (early := await self._prelude(request)) is not None:
            return early
        if (refused := self._allowed(AccountKind.SERVICE, AccountKind.SUBSCRIPTION)) is not None:
            return refused
        now = self.clock.time()
        self.mass_calls = [t for t in self.mass_calls if now - t < 60]
        if len(self.mass_calls) >= MASS_CALLS_PER_MINUTE:
            return self.error(45009, "reach max api daily quota limit")
        self.mass_calls.append(now)
        data = await request.json()
        if len(data.get("touser", [])) < 2:
            return self.error(40130, "invalid openid list size, at least two openid")
        clientmsgid = data.get("clientmsgid")
        if clientmsgid and clientmsgid in self.mass_by_clientmsgid:
            return web.json_response(
                {
                    "errcode": 45065,
                    "errmsg": "clientmsgid exist",
                    "msg_id": self.mass_by_clientmsgid[clientmsgid],
                }
            )
        day = self.clock.now().strftime("%Y-%m-%d")
        if self.config.account is AccountKind.SUBSCRIPTION and any(
            s.api == "mass" and s.at.startswith(day) for s in self.sends
        ):
            return self.error(45028, "has no masssend quota")
        msgtype = str(data.get("msgtype", ""))
        month = self.clock.now().strftime("%Y-%m")
        msg_id = 1_000_000_000 + next(self._ids)
        for openid in data.get("touser", []):
            user = self.users.get(str(openid))
            if user is None or not user.following:
                continue
            if self.config.account is AccountKind.SERVICE:
                if user.mass_received.get(month, 0) >= MASS_PER_USER_PER_MONTH:
                    continue  # filtered, as WeChat does (FilterCount)
                user.mass_received[month] = user.mass_received.get(month, 0) + 1
            self.record(str(openid), "mass", msgtype, {**data.get(msgtype, {}), "msg_id": msg_id})
        if clientmsgid:
            self.mass_by_clientmsgid[clientmsgid] = msg_id
        touser = [str(o) for o in data.get("touser", [])]
        reached = sum(1 for s in self.sends if s.api == "mass" and s.content.get("msg_id") == msg_id)
        self._report(
            touser[0],
            "MASSSENDJOBFINISH",
            MsgID=msg_id,
            Status="send success",
            TotalCount=len(touser),
            FilterCount=len(touser) - reached,
            SentCount=reached,
            ErrorCount=0,
        )
        await self._push_first()
        return web.json_response({"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id})

    def _store_media(self, content: bytes, kind: str) -> str:
        media_id = "MEDIA_" + secrets.token_urlsafe(16)
        self.media[media_id] = (content, kind, self.clock.now())
        return media_id

    async def media_upload(self, request: web.Request) -> web.Response:
        if (early := await self._prelude(request)) is not None:
            return early
        kind = request.query.get("type", "")
        if kind not in ("image", "voice", "video", "thumb"):
            return self.error(40004, "invalid media type")
        reader = await request.multipart()
        part = await reader.next()
        if part is None or not isinstance(part, aiohttp.BodyPartReader) or part.name != "media":
            return self.error(41005, "media data missing")
        content = await part.read()
        if kind == "voice" and len(content) > 2 * 1024 * 1024:
            return self.error(40006, "invalid media size")
        media_id = self._store_media(bytes(content), kind)
        return web.json_response({"type": kind, "media_id": media_id, "created_at": int(self.clock.time())})

    async def media_get(self, request: web.Request) -> web.StreamResponse:
        if (early := await self._prelude(request)) is not None:
            return early
        found = self.media.get(request.query.get("media_id", ""))
        if found is None or self.clock.now() - found[2] > MEDIA_LIFETIME:
            return self.error(40007, "invalid media_id")
        content, kind, _ = found
        return web.Response(body=content, content_type="audio/amr" if kind == "voice" else "image/jpeg")

    async def qrcode_create(self, request: web.Request) -> web.Response:
        if (early := await self._prelude(request)) is not None:
            return early
        if (refused := self._allowed(AccountKind.SERVICE)) is not None:
            return refused
        data = await request.json()
        scene = data.get("action_info", {}).get("scene", {})
        value = str(scene.get("scene_str", scene.get("scene_id", "")))
        ticket = "TICKET_" + secrets.token_urlsafe(16)
        self.qrcodes[ticket] = value
        expire = min(int(data.get("expire_seconds", 60)), 30 * 86400)
        return web.json_response(
            {"ticket": ticket, "expire_seconds": expire, "url": f"http://weixin.qq.com/q/{ticket}"}
        )

    async def menu_create(self, request: web.Request) -> web.Response:
        if (early := await self._prelude(request)) is not None:
            return early
        if (refused := self._allowed(AccountKind.SERVICE, AccountKind.SUBSCRIPTION)) is not None:
            return refused
        data = await request.json()
        if not isinstance(data.get("button"), list) or not 1 <= len(data["button"]) <= 3:
            return self.error(40016, "invalid button size")
        self.menu = data
        return self.error(0, "ok")
