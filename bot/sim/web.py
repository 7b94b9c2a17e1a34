"""The web phone simulator under /sim: `partybot chat`'s web twin, for training without a real account.

Mounted by bot/app.py only when `PARTYBOT_SIM` is on and the WeChat API base is a loopback address (the
fake WeChat of `partybot demo`, bot/dev/fake_wechat.py); never on a real deployment. A phone-shaped page:
pick any bound person of the database (or a new openid), chat, tap the account's menu buttons (CLICK events,
content/menus.yaml `menu_keys`), send a location, a photo or a recognised voice message, and watch the
pushes arrive (a small script polls every 1.5 s; without it the 刷新 link does the same). What the bot
sent comes from the fake (`/sim/sends`); what the user sent is remembered here, per run of the fake. A
pushed voice message plays in the browser: `/sim/voice/{media_id}` fetches the AMR through the gateway
(media/get) and converts it with ffmpeg to MP3, keeping the latest clips in memory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import secrets
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import jinja2
from aiohttp import web
from sqlalchemy import select

from bot.clock import Clock
from bot.content import Content
from bot.services import Services
from bot.settings import Settings
from bot.sim.talk import FakeApi, describe, push_body, push_label, voice_media
from bot.wechat.errors import WeChatError
from bot.wechat.gateway import WeChatGateway
from models import Admin, Binding, Member, RequestTicket, Staff, WeChatUser

HERE = Path(__file__).resolve().parent
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
NEW_PREFIX = "o-sim-"
# A point near the demo community (a made-up 银杏社区 in Hangzhou), as WeChat sends a shared location.
LOCATION = (30.2741, 120.1551)
MINE_KEPT = 200  # per user
USERS_KEPT = 500
CLIPS_KEPT = 32
RESIDENTS_SHOWN = 30

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class SimWiring:
    """The parent application's keys for what the simulator uses (so nothing here imports bot.app)."""

    services: web.AppKey[Services]
    content: web.AppKey[Content]
    settings: web.AppKey[Settings]
    clock: web.AppKey[Clock]
    gateway: web.AppKey[WeChatGateway]


@dataclass(frozen=True, slots=True)
class Mine:
    """Something the simulated user did, placed after the fake's send `after` (its last one by then)."""

    after: int
    text: str
    at: datetime
    note: bool = False  # not a message: what went wrong delivering one


@dataclass(frozen=True, slots=True)
class Line:
    """One bubble of the conversation."""

    order: tuple[int, int]
    side: str  # me, bot, note
    text: str
    label: str  # the push's API (客服消息, 群发, ...), or 回复 for a passive reply; "" for the user's own
    at: str
    voice: str | None = None  # a media_id to play


@dataclass(frozen=True, slots=True)
class Person:
    openid: str
    label: str
    group: str  # people, residents


@dataclass
class SimState:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    instance: str = ""  # the fake's run the remembered messages belong to
    mine: OrderedDict[str, list[Mine]] = field(default_factory=OrderedDict)
    clips: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    http: aiohttp.ClientSession | None = None
    env: jinja2.Environment | None = None

    def remember(self, openid: str, entry: Mine) -> None:
        kept = self.mine.pop(openid, [])
        kept.append(entry)
        self.mine[openid] = kept[-MINE_KEPT:]
        while len(self.mine) > USERS_KEPT:
            self.mine.popitem(last=False)


WIRING = web.AppKey("sim_wiring", SimWiring)
STATE = web.AppKey("sim_state", SimState)


def sim_enabled(settings: Settings) -> bool:
    """On only when asked for and the WeChat API is the fake on this machine."""
    if not settings.sim:
        return False
    host = urlsplit(settings.wechat_api_base).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the app ----------------------------------------------------------------------------------------


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith(("/sim/static/", "/sim/voice/")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def sim_app(wiring: SimWiring) -> web.Application:
    app = web.Application(middlewares=[headers_middleware])
    app[WIRING] = wiring
    state = app[STATE] = SimState()
    state.env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    app.cleanup_ctx.append(_http)
    app.router.add_get("", _bare)
    app.router.add_get("/", page, name="page")
    app.router.add_get("/new", new_user, name="new")
    app.router.add_get("/feed", feed, name="feed")
    app.router.add_post("/send", send, name="send")
    app.router.add_get("/voice/{media_id}", voice, name="voice")
    app.router.add_static("/static/", HERE / "static", name="static")
    return app


async def _http(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    state.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    yield
    await state.http.close()


def _wiring(request: web.Request) -> SimWiring:
    return request.config_dict[WIRING]


def _state(request: web.Request) -> SimState:
    return request.config_dict[STATE]


def _content(request: web.Request) -> Content:
    return request.config_dict[_wiring(request).content]


def _settings(request: web.Request) -> Settings:
    return request.config_dict[_wiring(request).settings]


def _clock(request: web.Request) -> Clock:
    return request.config_dict[_wiring(request).clock]


def _api(request: web.Request) -> FakeApi:
    http = _state(request).http
    assert http is not None, "the simulator's app is not running"
    return FakeApi(http, _settings(request).wechat_api_base)


def _render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    env = _state(request).env
    assert env is not None
    html = env.get_template(template).render(t=_content(request).text, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


async def _bare(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/sim/")


def _openid(value: str | None) -> str | None:
    """A usable openid from a form or the query, else None."""
    value = (value or "").strip()
    return value if OPENID.fullmatch(value) else None


def _page_of(openid: str) -> str:
    return f"/sim/?u={quote(openid)}"


# --- who can be played --------------------------------------------------------------------------------


async def people(request: web.Request) -> list[Person]:
    """Everyone bound in the database (by role and unit, as their identity resolves), the administrators,
    then residents who have written or filed a request (the demo's o-demo-res-N)."""
    services = request.config_dict[_wiring(request).services]
    t = _content(request).text
    async with services.db.read() as session:
        bound = (
            await session.execute(
                select(Binding.openid, Member.number, Member.name, Staff.number, Staff.name)
                .outerjoin(Member, Member.id == Binding.member_id)
                .outerjoin(Staff, Staff.id == Binding.staff_id)
            )
        ).all()
        admins = (
            await session.execute(select(Admin.openid, Admin.name).where(Admin.openid.is_not(None)))
        ).all()
        taken = {row[0] for row in bound} | {row[0] for row in admins}
        seen = set(await session.scalars(select(WeChatUser.openid).limit(1000)))
        seen |= set(await session.scalars(select(RequestTicket.reporter_openid).distinct().limit(1000)))
    found: list[tuple[tuple[int, str], Person]] = []
    for openid, name in admins:
        assert openid is not None
        identity = await services.identities.lookup(openid)
        label = t("console_sim_person_admin", name=name, role=t(f"console_role_{identity.role}"))
        found.append(((0, openid), Person(openid, label, "people")))
    for openid, member_number, member_name, staff_number, staff_name in bound:
        identity = await services.identities.lookup(openid)
        path = identity.unit_path or identity.staff_unit_path or ""
        number = member_number or staff_number or openid
        label = t(
            "console_sim_person",
            name=member_name or staff_name or openid,
            role=t(f"console_role_{identity.role}"),
            unit=path.rsplit("/", 1)[-1],
            number=number,
        )
        found.append(((1 if member_number else 2, number), Person(openid, label, "people")))
    for openid in sorted(seen - taken)[:RESIDENTS_SHOWN]:
        label = t("console_sim_person_resident", openid=openid)
        found.append(((3, openid), Person(openid, label, "residents")))
    return [person for _, person in sorted(found, key=lambda pair: pair[0])]


# --- the conversation ------------------------------------------------------------------------------------


def _local(at: datetime, timezone: str) -> str:
    return at.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")


async def _sync_instance(request: web.Request, api: FakeApi) -> int:
    """The fake's last send id; forgets what users sent in an earlier run of the fake."""
    stats = await api.stats()
    state = _state(request)
    instance = str(stats.get("instance", ""))
    if instance != state.instance:
        state.instance = instance
        state.mine.clear()
    return int(stats.get("sends", 0))


async def conversation(request: web.Request, openid: str) -> list[Line]:
    """The user's messages, the bot's passive replies and its pushes, in the order they happened."""
    api = _api(request)
    await _sync_instance(request, api)
    timezone = _settings(request).timezone
    t = _content(request).text
    lines: list[Line] = []
    for send in await api.sends(openid):
        at = _local(datetime.fromisoformat(str(send["at"])), timezone)
        media = voice_media(send)
        if send["api"] == "passive":
            text = "" if media else describe(send["content"])
            lines.append(Line((int(send["id"]), 0), "bot", text, t("console_sim_reply"), at, media))
        else:
            text = "" if media else push_body(send)
            lines.append(Line((int(send["id"]), 0), "bot", text, push_label(send), at, media))
    for entry in _state(request).mine.get(openid, []):
        side = "note" if entry.note else "me"
        lines.append(Line((entry.after, 1), side, entry.text, "", _local(entry.at, timezone)))
    return sorted(lines, key=lambda line: line.order)


async def page(request: web.Request) -> web.Response:
    openid = _openid(request.query.get("u"))
    content = _content(request)
    t = content.text
    problem = ""
    everyone: list[Person] = await people(request)
    lines: list[Line] = []
    following = True
    if request.query.get("u") and openid is None:
        problem = t("console_sim_bad_user")
    elif request.query.get("expired"):
        problem = t("console_sim_expired")
    if openid is not None:
        try:
            lines = await conversation(request, openid)
            following = bool((await _api(request).user(openid)).get("following"))
        except (aiohttp.ClientError, ValueError):
            problem = t("console_sim_unreachable", url=_settings(request).wechat_api_base)
    who = next((p.label for p in everyone if p.openid == openid), None)
    if openid is not None and who is None:
        key = "console_sim_person_new" if openid.startswith(NEW_PREFIX) else "console_sim_person_resident"
        who = t(key, openid=openid)
    labels: dict[str, str] = content.texts.get("console_sim_menu_keys") or {}
    menu = [(key, str(labels.get(key, key))) for key in content.menu_keys]
    return _render(
        request,
        "sim.html",
        people=everyone,
        openid=openid,
        who=who,
        lines=lines,
        following=following,
        problem=problem,
        menu=menu,
        csrf=_state(request).csrf,
        community=content.community_name,
        console=_settings(request).console,
    )


async def feed(request: web.Request) -> web.Response:
    """The conversation as the page shows it, for the page's poll: {"count", "html"}."""
    openid = _openid(request.query.get("u"))
    if openid is None:
        raise web.HTTPNotFound()
    try:
        lines = await conversation(request, openid)
    except (aiohttp.ClientError, ValueError):
        return web.json_response({"error": "unreachable"}, status=502)
    html = _render(request, "conversation.html", lines=lines).text or ""
    return web.json_response({"count": len(lines), "html": html})


async def new_user(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(_page_of(NEW_PREFIX + secrets.token_hex(4)))


def _action(request: web.Request, form: Any) -> tuple[dict[str, Any], str] | None:
    """The form's action for the fake, and how the user's side of the conversation shows it."""
    t = _content(request).text
    kind = str(form.get("kind", "text"))
    text = str(form.get("content", "")).strip()
    if kind == "text":
        return ({"type": "text", "content": text}, text) if text else None
    if kind == "voice":
        shown = t("console_sim_sent_voice", text=text) if text else t("console_sim_sent_voice_silent")
        return {"type": "voice", "recognition": text or None}, shown
    if kind == "location":
        label = t("console_sim_location_label")
        action = {"type": "location", "latitude": LOCATION[0], "longitude": LOCATION[1], "label": label}
        return action, t("console_sim_sent_location", label=label)
    if kind == "image":
        return {"type": "image"}, t("console_sim_sent_image")
    if kind == "click":
        content = _content(request)
        key = str(form.get("key", ""))
        if key not in content.menu_keys:
            return None
        labels: dict[str, str] = content.texts.get("console_sim_menu_keys") or {}
        shown = t("console_sim_sent_click", label=labels.get(key, key))
        return {"type": "event", "event": "CLICK", "event_key": key}, shown
    if kind == "follow":
        return {"type": "event", "event": "subscribe"}, t("console_sim_sent_follow")
    if kind == "unfollow":
        return {"type": "event", "event": "unsubscribe"}, t("console_sim_sent_unfollow")
    return None


async def send(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    state = _state(request)
    openid = _openid(str(form.get("u", "")))
    if openid is None:
        return _render(
            request, "problem.html", status=400, message=_content(request).text("console_sim_bad_user")
        )
    if not secrets.compare_digest(str(form.get("_csrf", "")), state.csrf):
        raise web.HTTPSeeOther(_page_of(openid) + "&expired=1")
    api = _api(request)
    now = _clock(request).now()
    if str(form.get("kind", "")) == "scan":  # 扫一扫: the QR code the account made last
        try:
            scene = (await api.stats()).get("last_scene")
        except (aiohttp.ClientError, ValueError):
            raise web.HTTPSeeOther(_page_of(openid)) from None
        if not scene:
            after = await _sync_instance(request, api)
            state.remember(openid, Mine(after, _content(request).text("console_sim_no_qr"), now, note=True))
            raise web.HTTPSeeOther(_page_of(openid))
        found: tuple[dict[str, Any], str] | None = (
            {"type": "event", "event": "SCAN", "scene": str(scene)},
            _content(request).text("console_sim_sent_scan"),
        )
    else:
        found = _action(request, form)
    if found is None:
        raise web.HTTPSeeOther(_page_of(openid))
    action, shown = found
    try:
        after = await _sync_instance(request, api)
        state.remember(openid, Mine(after, shown, now))
        result = await api.act(openid, action)
    except (aiohttp.ClientError, ValueError):
        raise web.HTTPSeeOther(_page_of(openid)) from None
    if result.get("error"):
        text = _content(request).text("console_sim_error", error=result["error"])
        state.remember(openid, Mine(after, text, now, note=True))
    raise web.HTTPSeeOther(_page_of(openid))


# --- voice --------------------------------------------------------------------------------------------


async def to_mp3(amr: bytes) -> bytes:
    """AMR-NB (what WeChat's media/get returns for voice) → MP3 a browser plays. Written to a file, not a
    pipe, so that ffmpeg can put the clip's length in its header (a browser then knows the duration)."""
    with tempfile.TemporaryDirectory(prefix="partybot-sim-") as folder:
        out = Path(folder) / "clip.mp3"
        process = await asyncio.create_subprocess_exec(
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "amr",
            "-i",
            "pipe:0",
            "-ac",
            "1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "32k",
            "-f",
            "mp3",
            "-y",
            str(out),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate(amr)
        if process.returncode != 0 or not out.exists():
            raise RuntimeError(f"ffmpeg failed: {err.decode(errors='replace')[-300:]}")
        return out.read_bytes()


async def voice(request: web.Request) -> web.StreamResponse:
    media_id = request.match_info["media_id"]
    if not MEDIA_ID.fullmatch(media_id):
        raise web.HTTPNotFound()
    state = _state(request)
    clip = state.clips.get(media_id)
    if clip is None:
        gateway = request.config_dict[_wiring(request).gateway]
        try:
            amr = await gateway.get_media(media_id)
            clip = await to_mp3(amr)
        except (WeChatError, aiohttp.ClientError, RuntimeError, OSError):
            t = _content(request).text
            return _render(request, "problem.html", status=404, message=t("console_sim_voice_missing"))
        state.clips[media_id] = clip
        while len(state.clips) > CLIPS_KEPT:
            state.clips.popitem(last=False)
    state.clips.move_to_end(media_id)
    return web.Response(
        body=clip, content_type="audio/mpeg", headers={"Cache-Control": "private, max-age=3600"}
    )
