"""`partybot chat`: talk to partybot as a WeChat user, through the fake WeChat API.

Everything goes through the fake, which signs (and in safe mode encrypts) and forwards like WeChat; the
passive answer is shown, then anything the fake received for this user (customer-service messages,
templates, mass sends), including late answers as they arrive. A window first shows what reached the user
while no window was open (remembered per run of the fake in `chat-seen.json` beside the demo state file).
With `--as 编号` it looks the number up in the demo's database (read only): unknown numbers are refused,
unbound ones chat as a newcomer who can bind.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.sim.talk import FakeApi
from bot.sim.talk import describe as describe
from bot.sim.talk import push_text as push_text

DEMO_OPENID_PREFIX = "o-demo-"
SQLITE_PREFIX = "sqlite+aiosqlite:///"
SEEN_INSTANCES_KEPT = 5

HELP = """模拟动作（其他文字直接发送给公众号）：
  /语音 文字      发送语音（带识别文字）；只写 /语音 则没有识别文字
  /位置 纬度 经度 [地点]
  /点击 菜单KEY    点击自定义菜单，例如 /点击 MENU_HELP
  /关注  /取消关注  /扫码 场景值
  /图片  /视频  /文件  /链接
  /帮助  显示本说明      /退出  结束
（英文也可以：/voice /location /click /follow /unfollow /scan /image /video /file /link /help /quit）"""

ALIASES = {
    "语音": "voice",
    "位置": "location",
    "点击": "click",
    "关注": "follow",
    "取消关注": "unfollow",
    "扫码": "scan",
    "图片": "image",
    "视频": "video",
    "文件": "file",
    "链接": "link",
    "帮助": "help",
    "退出": "quit",
    "?": "help",
}


def demo_state_path() -> Path:
    override = os.environ.get("PARTYBOT_DEMO_STATE")
    return Path(override) if override else Path.home() / ".config" / "partybot" / "demo.json"


def read_demo_state() -> dict[str, Any] | None:
    return _read_json(demo_state_path())


def chat_seen_path() -> Path:
    """What earlier chat windows have shown, per run of the fake and user (beside the demo state)."""
    return demo_state_path().with_name("chat-seen.json")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class DemoPerson:
    number: str
    name: str
    openid: str | None  # the WeChat user bound to them; None: not bound


class NoDemoDatabase(Exception):
    """The demo's database cannot be read (not SQLite, missing, or from an older schema)."""


def find_demo_person(database_url: str, number: str) -> DemoPerson | None:
    """A member or grid worker of the demo community by number, read from the demo's SQLite database
    without writing to it; None when the number is not in the community."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.exc import SQLAlchemyError

    from models import Binding, Member, Staff

    if not database_url.startswith(SQLITE_PREFIX):
        raise NoDemoDatabase(database_url)
    path = Path(database_url.removeprefix(SQLITE_PREFIX))
    if not path.is_file():
        raise NoDemoDatabase(str(path))
    uri = path.resolve().as_uri() + "?mode=ro"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    try:
        with engine.connect() as conn:
            for table, bound_by in ((Member, Binding.member_id), (Staff, Binding.staff_id)):
                found = conn.execute(
                    select(table.id, table.name).where(table.number == number, table.active.is_(True))
                ).first()
                if found is not None:
                    openid = conn.scalar(select(Binding.openid).where(bound_by == found.id))
                    return DemoPerson(number, found.name, openid)
            return None
    except SQLAlchemyError as exc:
        raise NoDemoDatabase(str(exc)) from exc
    finally:
        engine.dispose()


def parse_line(line: str) -> dict[str, Any] | str | None:
    """A typed line -> a user action for the fake, or "help"/"quit", or None for an empty line."""
    line = line.strip()
    if not line:
        return None
    if not line.startswith("/"):
        return {"type": "text", "content": line}
    try:
        parts = shlex.split(line[1:])
    except ValueError:
        parts = line[1:].split()
    if not parts:
        return "help"
    command = ALIASES.get(parts[0], parts[0].lower())
    args = parts[1:]
    if command in ("help", "quit"):
        return command
    if command == "voice":
        return {"type": "voice", "recognition": " ".join(args) or None}
    if command == "location":
        if len(args) < 2:
            return "help"
        return {"type": "location", "latitude": args[0], "longitude": args[1], "label": " ".join(args[2:])}
    if command == "click":
        return {"type": "event", "event": "CLICK", "event_key": args[0] if args else "MENU_HELP"}
    if command == "follow":
        return {"type": "event", "event": "subscribe"}
    if command == "unfollow":
        return {"type": "event", "event": "unsubscribe"}
    if command == "scan":
        return {"type": "event", "event": "SCAN", "scene": args[0] if args else ""}
    if command == "image":
        return {"type": "image"}
    if command == "video":
        return {"type": "video", "MediaId": "MEDIA_video", "ThumbMediaId": "MEDIA_thumb"}
    if command == "file":
        return {
            "type": "file",
            "Title": args[0] if args else "文件.pdf",
            "FileKey": "k",
            "FileMd5": "m",
            "FileTotalLen": "1024",
        }
    if command == "link":
        return {
            "type": "link",
            "Title": "链接",
            "Description": "",
            "Url": args[0] if args else "https://example.org",
        }
    return "help"


class NotInDemo(Exception):
    """`chat --as` a number the demo community does not have."""


def member_openid(number: str, state: dict[str, Any] | None, fake_url: str) -> tuple[str, str | None]:
    """Who `chat --as NUMBER` is, and what to say first: the WeChat bound to that member or grid worker of
    the running demo; o-demo-<number> for one not bound yet (said, so a newcomer can bind). NotInDemo for a
    number the community does not have. Without the demo's database (another fake, an older demo): the
    openid o-demo-<number>, unchecked."""
    number = number.strip().upper()
    openid = DEMO_OPENID_PREFIX + number
    if state is None or not state.get("database") or str(state.get("fake_url")) != fake_url:
        return openid, None
    try:
        person = find_demo_person(str(state["database"]), number)
    except NoDemoDatabase:
        return openid, None
    if person is None:
        raise NotInDemo(f"演示社区里没有编号 {number}（党员见 content/demo/roster.csv，网格员见 staff.csv）")
    if person.openid is None:
        return openid, (
            f"{number} {person.name}还没有绑定微信，将以未绑定的新用户身份聊天（{openid}）。\n"
            f"绑定：书记发“绑定码 {person.name}”或运行 partybot members bind-code {number}，"
            f"再在这里发“绑定 绑定码”。"
        )
    return person.openid, None


class ChatSession:
    def __init__(
        self,
        fake_url: str,
        openid: str,
        write: Callable[[str], None] = print,
        seen_path: Path | None = None,
    ) -> None:
        self.fake_url, self.openid, self.write = fake_url.rstrip("/"), openid, write
        self.seen_path = seen_path
        self.last_push = 0
        self.instance = ""
        self._remembered = 0
        self._session: aiohttp.ClientSession | None = None
        self._api: FakeApi | None = None

    async def __aenter__(self) -> ChatSession:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._api = FakeApi(self._session, self.fake_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _sends(self) -> list[dict[str, Any]]:
        assert self._api is not None
        return await self._api.sends(self.openid)

    async def catch_up(self) -> list[dict[str, Any]]:
        """The pushes that reached this user since an earlier window last showed one (all of them when no
        window was open before in this run of the fake); from then on, only what is new is shown."""
        assert self._api is not None
        self.instance = str((await self._api.stats()).get("instance", ""))
        sends = await self._sends()
        shown = self._seen().get(self.openid, 0)
        missed = [p for p in sends if p["id"] > shown and p["api"] != "passive"]
        self.last_push = max((p["id"] for p in sends), default=0)
        self.remember()
        return missed

    def _seen(self) -> dict[str, int]:
        if self.seen_path is None or not self.instance:
            return {}
        runs = _read_json(self.seen_path) or {}
        seen = runs.get(self.instance)
        return {str(k): int(v) for k, v in seen.items()} if isinstance(seen, dict) else {}

    def remember(self) -> None:
        """Keep the last push shown, so the next window for this user does not show it again."""
        if self.seen_path is None or not self.instance or self.last_push == self._remembered:
            return
        runs = _read_json(self.seen_path) or {}
        current = runs.pop(self.instance, None)
        seen = current if isinstance(current, dict) else {}
        seen[self.openid] = max(int(seen.get(self.openid, 0)), self.last_push)
        kept = dict(list(runs.items())[-(SEEN_INSTANCES_KEPT - 1) :])
        kept[self.instance] = seen
        try:
            self.seen_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.seen_path.with_name(self.seen_path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
            tmp.replace(self.seen_path)
        except OSError:
            return  # showing a push again is better than failing the chat
        self._remembered = self.last_push

    def show(self, push: dict[str, Any]) -> None:
        for i, line in enumerate(push_text(push).splitlines()):
            self.write(("* " if i == 0 else "  ") + line)

    async def following(self) -> bool:
        assert self._api is not None
        return bool((await self._api.user(self.openid)).get("following"))

    async def act(self, action: dict[str, Any]) -> None:
        assert self._api is not None
        result = await self._api.act(self.openid, action)
        if result.get("error"):
            self.write(f"！ {result['error']}")
        elif result.get("reply"):
            for line in describe(result["reply"]).splitlines() or [""]:
                self.write(f"< {line}")
        await self.show_pushes()

    async def show_pushes(self) -> None:
        for push in await self._sends():
            if push["id"] <= self.last_push:
                continue
            self.last_push = push["id"]
            if push["api"] != "passive":
                self.show(push)
        self.remember()

    async def watch_pushes(self, interval_s: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.show_pushes()
            except aiohttp.ClientError:
                continue


async def run_chat(fake_url: str, openid: str, seen_path: Path | None = None) -> int:
    async with ChatSession(fake_url, openid, seen_path=seen_path) as chat:
        try:
            following = await chat.following()
            missed = await chat.catch_up()
        except aiohttp.ClientError:
            print(f"连不上假微信服务 {fake_url}。请先在另一个终端运行 partybot demo。")
            return 2
        print(f"你现在是微信用户 {openid}。直接输入文字发送；输入 /帮助 查看可模拟的动作，/退出 结束。")
        if missed:
            print("您不在时收到：")
            for push in missed:
                chat.show(push)
        if not following:
            print("（先关注公众号）")
            await chat.act({"type": "event", "event": "subscribe"})
        watcher = asyncio.create_task(chat.watch_pushes())
        try:
            while True:
                try:
                    line = await asyncio.to_thread(input, "> ")
                except EOFError:
                    break
                parsed = parse_line(line)
                if parsed is None:
                    continue
                if parsed == "quit":
                    break
                if parsed == "help":
                    print(HELP)
                    continue
                assert isinstance(parsed, dict)
                try:
                    await chat.act(parsed)
                except aiohttp.ClientError as exc:
                    print(f"！ 发送失败：{exc}")
        finally:
            watcher.cancel()
    return 0
