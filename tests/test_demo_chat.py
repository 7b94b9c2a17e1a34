"""`partybot demo` and `partybot chat` as a new user runs them: two processes, a terminal (pty)."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import shutil
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.dev.chat import parse_line, push_text
from bot.dev.demo import (
    DEMO_ANSWERS,
    ENV_MARKER,
    demo_settings,
    seed_demo,
    seed_reads,
    start_month,
    walk_through,
    what,
    who,
    write_demo_env,
)
from bot.domain.study import sync_all
from bot.settings import AccountKind
from models import Event, Invitation, Member, OrgUnit, PointEntry
from models.db import Database
from models.migrate import upgrade
from tests.test_serve_process import PARTYBOT, free_port

REPO = Path(__file__).resolve().parent.parent
BRANCH1 = "青禾街道党工委/银杏社区党委/第一网格党支部"


class Terminal:
    """A program on a pseudo-terminal, read until some text appears (bounded, no fixed sleeps)."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd)
        os.close(slave)
        self.seen = ""

    async def expect(self, text: str, timeout_s: float = 30.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while text not in self.seen:
            if loop.time() > deadline:
                raise AssertionError(f"{text!r} never appeared; screen so far:\n{self.seen}")
            ready = asyncio.Event()
            loop.add_reader(self.master, ready.set)
            try:
                await asyncio.wait_for(ready.wait(), max(deadline - loop.time(), 0.01))
            except TimeoutError:
                continue
            finally:
                loop.remove_reader(self.master)
            try:
                self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
            except OSError:  # the program closed the terminal
                break
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        os.close(self.master)


async def test_a_new_user_chats_with_the_demo(tmp_path: Path) -> None:
    port, fake_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")},
        "PARTYBOT_DEMO_STATE": str(tmp_path / "demo.json"),
        "HOME": str(tmp_path),
    }
    demo = Terminal([PARTYBOT, "demo", "--port", str(port), "--fake-port", str(fake_port)], env, tmp_path)
    try:
        await demo.expect("按 Ctrl+C 结束")
        chat = Terminal([PARTYBOT, "chat", "--openid", "o-pty"], env, tmp_path)
        try:
            await chat.expect("欢迎关注银杏社区")  # a new user follows first and is welcomed
            chat.type("幫助")
            screen = await chat.expect("< 3 党员绑定", 20)
            chat.type("/语音 我要反映问题")
            await chat.expect("请用一句话说说遇到了什么问题")
            chat.type("/视频")
            await chat.expect("暂时无法处理视频")
            chat.type("/退出")
            assert chat.proc.wait(20) == 0
            assert "！" not in screen  # no delivery errors
        finally:
            chat.close()
        # The seeded community: demo members are pre-bound to o-demo-<编号>.
        member = Terminal([PARTYBOT, "chat", "--as", "YX-004"], env, tmp_path)
        try:
            # She followed the account long ago (WeChat knows its followers): no welcome, straight to chat.
            await member.expect("你现在是微信用户 o-demo-YX-004")
            member.type("我的信息")
            await member.expect("< 联系人：孙丽娟 138****8006", 20)
            member.type("/退出")
            assert member.proc.wait(20) == 0
        finally:
            member.close()
        secretary = Terminal([PARTYBOT, "chat", "--as", "YX-002"], env, tmp_path)
        try:
            await secretary.expect("你现在是微信用户 o-demo-YX-002")
            secretary.type("菜单")
            await secretary.expect("11 公告状态", 20)
            secretary.type("成员")
            await secretary.expect("第一网格党支部，共8人", 20)
            assert "13800138004" not in secretary.seen
            secretary.type("/退出")
            assert secretary.proc.wait(20) == 0
        finally:
            secretary.close()
    finally:
        demo.close()
    assert demo.proc.returncode == 0
    assert (tmp_path / "partybot-demo.db").exists()


async def test_chat_without_a_demo_says_what_to_do(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")},
        "PARTYBOT_DEMO_STATE": str(tmp_path / "none.json"),
    }
    proc = await asyncio.create_subprocess_exec(
        PARTYBOT, "chat", env=env, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and "partybot demo" in err.decode()


def test_chat_lines_become_user_actions() -> None:
    assert parse_line("你好") == {"type": "text", "content": "你好"}
    assert parse_line("/语音 帮助。") == {"type": "voice", "recognition": "帮助。"}
    assert parse_line("/voice") == {"type": "voice", "recognition": None}
    assert parse_line("/位置 39.9 116.4 银杏社区") == {
        "type": "location",
        "latitude": "39.9",
        "longitude": "116.4",
        "label": "银杏社区",
    }
    assert parse_line("/点击 MENU_BIND") == {"type": "event", "event": "CLICK", "event_key": "MENU_BIND"}
    assert parse_line("/扫码 k9") == {"type": "event", "event": "SCAN", "scene": "k9"}
    assert parse_line("/退出") == "quit" and parse_line("/nonsense") == "help" and parse_line("  ") is None
    data = {"thing1": {"value": "主题党日"}, "time2": {"value": "12月25日 09:00"}}
    push = {"api": "template", "msgtype": "template", "content": {"data": data}}
    assert push_text(push) == "[模板消息] 主题党日；12月25日 09:00"


# --- the demo as an operator sees it ------------------------------------------------------------------


def clean_env(home: Path) -> dict[str, str]:
    """No PARTYBOT_* variables at all: what a command knows comes from the folder's .env, and `chat` finds
    the demo by its state file under HOME."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PARTYBOT_")}, "HOME": str(home)}


async def partybot(cwd: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        PARTYBOT,
        *args,
        env=clean_env(cwd),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start_demo(folder: Path) -> tuple[Terminal, int]:
    port, fake_port = free_port(), free_port()
    demo = Terminal(
        [PARTYBOT, "demo", "--port", str(port), "--fake-port", str(fake_port)], clean_env(folder), folder
    )
    await demo.expect("按 Ctrl+C 结束")
    return demo, fake_port


async def chat_as(folder: Path, number: str) -> Terminal:
    return Terminal([PARTYBOT, "chat", "--as", number], clean_env(folder), folder)


async def test_other_commands_in_the_demo_folder_work_against_the_running_demo(tmp_path: Path) -> None:
    demo, _ = await start_demo(tmp_path)
    try:
        assert f"设置已写入 {tmp_path / '.env'}" in demo.seen
        env_file = (tmp_path / ".env").read_text(encoding="utf-8")
        assert env_file.startswith(ENV_MARKER) and "PARTYBOT_DATA_KEY=" in env_file
        assert (tmp_path / ".env").stat().st_mode & 0o077 == 0  # the app secret and the data key

        jobs, issued, ran, outbox, unknown = await asyncio.gather(
            partybot(tmp_path, "jobs"),
            partybot(tmp_path, "members", "bind-code", "YX-009"),
            partybot(tmp_path, "jobs", "run", "relay_unreached", "--now", "+1h"),
            partybot(tmp_path, "outbox"),
            partybot(tmp_path, "chat", "--as", "YX-999"),
        )
        assert jobs[0] == 0 and "relay_unreached" in jobs[1], jobs[2]
        assert issued[0] == 0, issued[2]
        code = re.findall(r"\d{6}", issued[1])[0]
        assert ran[0] == 0 and "relay_unreached" in ran[1], ran[2]
        assert outbox[0] == 0, outbox[2]
        # A number the demo does not have: said, and no chat.
        assert unknown[0] == 2 and "演示社区里没有编号 YX-999" in unknown[2]
        rc, out, err = await partybot(tmp_path, "audit")
        assert rc == 0 and "YX-009" in out, err  # the code's issue, in the demo's own database

        # One left unbound on purpose: said, then a newcomer who binds with the code.
        newcomer = await chat_as(tmp_path, "yx-009")
        try:
            await newcomer.expect("YX-009 郑国平还没有绑定微信，将以未绑定的新用户身份聊天")
            await newcomer.expect("你现在是微信用户 o-demo-YX-009")
            newcomer.type(f"绑定 {code}")
            await newcomer.expect("< 绑定成功。郑国平同志", 20)
            newcomer.type("/退出")
            assert newcomer.proc.wait(20) == 0
        finally:
            newcomer.close()
        # The demo's console: one line per message handled (time, who, what, the route).
        line = await demo.expect(f"YX-009  “绑定 {code}”  → ", 20)
        assert re.search(rf"\d\d:\d\d:\d\d  YX-009  “绑定 {code}”  → \w+", line)
        # WeChat's job reports (dozens at the start: the seeded notices' templates) are not shown as lines.
        assert "template_finished" not in demo.seen and "mass_finished" not in demo.seen
        # Bound now: `--as YX-009` is that member, nothing more to say.
        rc, out, err = await partybot(tmp_path, "chat", "--as", "YX-009")
        assert rc == 0 and "还没有绑定" not in out and "你现在是微信用户 o-demo-YX-009" in out
    finally:
        demo.close()
    assert demo.proc.returncode == 0


async def test_a_chat_window_first_shows_what_came_while_no_window_was_open(tmp_path: Path) -> None:
    demo, fake_port = await start_demo(tmp_path)
    try:
        text = "周六上午9点在社区活动室开会。"
        rc, _, err = await partybot(tmp_path, "broadcast", "--org", BRANCH1, "--text", text, "-y")
        assert rc == 0, err
        await pushed(fake_port, "o-demo-YX-004", text)
        first = await chat_as(tmp_path, "YX-004")
        try:
            screen = await first.expect(text)
            assert screen.index("您不在时收到：") < screen.index(text)
            first.type("/退出")
            assert first.proc.wait(20) == 0
        finally:
            first.close()
        again = await chat_as(tmp_path, "YX-004")
        try:
            again.type("/帮助")  # answered locally, after what the window shows on opening
            screen = await again.expect("模拟动作")
            assert "你现在是微信用户 o-demo-YX-004" in screen
            assert text not in screen and "您不在时收到" not in screen
            again.type("/退出")
            assert again.proc.wait(20) == 0
        finally:
            again.close()
    finally:
        demo.close()


async def pushed(fake_port: int, openid: str, text: str) -> None:
    """Wait until the demo's worker has delivered a push with `text` to `openid` (bounded)."""
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            url = f"http://127.0.0.1:{fake_port}/sim/sends"
            async with session.get(url, params={"openid": openid}) as resp:
                sends: list[dict[str, Any]] = await resp.json()
            if any(s["api"] != "passive" and text in push_text(s) for s in sends):
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never reached {openid}")


async def test_the_demo_leaves_a_dotenv_it_did_not_write_alone(tmp_path: Path) -> None:
    mine = "PARTYBOT_LOG_LEVEL=DEBUG\n"
    (tmp_path / ".env").write_text(mine, encoding="utf-8")
    demo, fake_port = await start_demo(tmp_path)
    demo.close()
    assert (tmp_path / ".env").read_text(encoding="utf-8") == mine
    assert f"没有覆盖 {tmp_path / '.env'}" in demo.seen
    assert f"PARTYBOT_WECHAT_API_BASE=http://127.0.0.1:{fake_port}" in demo.seen  # the lines to add


def test_the_demo_writes_its_dotenv_only_when_absent_or_its_own(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    assert write_demo_env(path, ["PARTYBOT_WECHAT_TOKEN=a"])
    assert write_demo_env(path, ["PARTYBOT_WECHAT_TOKEN=b"])  # its own: rewritten at each start
    assert path.read_text(encoding="utf-8").splitlines()[1:] == ["PARTYBOT_WECHAT_TOKEN=b"]
    path.write_text("", encoding="utf-8")  # someone else's, even empty
    assert not write_demo_env(path, ["PARTYBOT_WECHAT_TOKEN=c"])
    assert path.read_text(encoding="utf-8") == ""


def test_the_demo_files_are_not_committed() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for name in (".env", "partybot-demo.db", "partybot-demo.db-wal", "partybot-demo.key"):
        found = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO, check=False)
        assert found.returncode == 0, f"{name} is not in .gitignore"


def test_the_console_line_names_who_and_what_briefly() -> None:
    assert who("o-demo-YX-004") == "YX-004" and who("o-pty") == "o-pty"
    assert who("oAbCdEfGhIjKlMnOpQrStUvWxYz12") == "oAbCd…z12"  # a real openid, masked
    assert what("text", {"Content": "我要报名参加本月主题党日活动，请问几点在哪里集合？"}).endswith("…”")
    assert what("voice", {"Recognition": "帮助"}) == "[语音] “帮助”"
    assert what("event", None, "click", "MENU_HELP") == "[点击 MENU_HELP]"
    assert what("event", {"Event": "MASSSENDJOBFINISH"}) == "[群发回执]"


# --- the demo's month: this month's theme day for every branch, on the demo's clock ---------------------

DEMO_BRANCHES = {
    "青禾街道党工委/银杏社区党委": "每月25日",
    "青禾街道党工委/银杏社区党委/第一网格党支部": "每月25日",
    "青禾街道党工委/银杏社区党委/第二网格党支部": "每月第一个星期五",
    "青禾街道党工委/银杏社区党委/第三网格党支部": "每月最后一个工作日",
}


async def _demo_month(tmp_path: Path, now: datetime) -> tuple[dict[str, Event], dict[str, Any], str]:
    """The demo's seed and start-up as of `now`: each holding unit's event this month, the answers and
    reads seeded, and the banner's walk-through."""
    settings = demo_settings(tmp_path, "127.0.0.1", 1, 2, "a" * 43, AccountKind.SERVICE)
    await upgrade(settings.database_url)
    assert await seed_demo(settings, now)
    await start_month(settings, now, answers=True)
    db = Database(settings.database_url)
    try:
        await sync_all(db, None, now)  # what the app does at start
        await seed_reads(settings, now)
        month = f"{now.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m}"
        async with db.read() as session:
            events = {
                str(path): event
                for event, path in await session.execute(
                    select(Event, OrgUnit.path)
                    .join(OrgUnit, OrgUnit.id == Event.unit_id)
                    .where(Event.kind == "theme_day", Event.month == month)
                )
            }
            answered = {
                str(number): (answer, reason)
                for number, answer, reason in await session.execute(
                    select(Member.number, Invitation.answer, Invitation.reason)
                    .join(Invitation, Invitation.member_id == Member.id)
                    .where(Member.number.in_(list(DEMO_ANSWERS)), Invitation.answer.is_not(None))
                )
            }
            points = {
                number: total
                for number, total in await session.execute(
                    select(Member.number, func.sum(PointEntry.points))
                    .join(PointEntry, PointEntry.member_id == Member.id)
                    .group_by(Member.number)
                )
            }
    finally:
        await db.dispose()
    return events, {"answers": answered, "points": points}, await walk_through(settings, now)


async def test_the_demo_starts_with_this_months_theme_day_for_every_branch(tmp_path: Path) -> None:
    bj = ZoneInfo("Asia/Shanghai")
    events, seeded, walk = await _demo_month(tmp_path, datetime(2026, 12, 2, 10, 0, tzinfo=bj))
    assert set(events) == set(DEMO_BRANCHES)  # content/demo/org.csv's rules
    starts = {path: e.starts_at.astimezone(bj) for path, e in events.items()}
    assert starts["青禾街道党工委/银杏社区党委/第一网格党支部"] == datetime(2026, 12, 25, 9, 0, tzinfo=bj)
    assert starts["青禾街道党工委/银杏社区党委/第二网格党支部"] == datetime(2026, 12, 4, 9, 0, tzinfo=bj)
    assert starts["青禾街道党工委/银杏社区党委/第三网格党支部"] == datetime(2026, 12, 31, 9, 0, tzinfo=bj)
    # A couple of members of each branch have answered already; a few have points (积分 ranks them).
    assert seeded["answers"]["YX-008"] == ("yes", None)
    assert seeded["answers"]["YX-005"] == ("leave", "腿脚不便")
    assert {"YX-012", "YX-016", "YX-026", "YX-029"} <= set(seeded["answers"])
    assert seeded["points"]["YX-020"] == 3 and seeded["points"]["YX-008"] == 2
    # The banner: the moments to move the clock to for 第一网格党支部's day, to copy.
    for moment in ("2026-12-18T09:00", "2026-12-24T18:00", "2026-12-25T08:40", "2026-12-25T12:10"):
        assert f"partybot jobs run theme_day --now {moment}" in walk


async def test_the_demo_started_late_in_the_month_still_has_every_branchs_theme_day(tmp_path: Path) -> None:
    bj = ZoneInfo("Asia/Shanghai")
    now = datetime(2027, 3, 29, 10, 0, tzinfo=bj)
    events, _, walk = await _demo_month(tmp_path, now)
    assert set(events) == set(DEMO_BRANCHES)
    # 第一网格党支部's March day is over: the walk-through is April's, and only what is still to come.
    assert "第一网格党支部的主题党日 2027-04-25 09:00" in walk
    for moment in ("2027-04-18T09:00", "2027-04-24T18:00", "2027-04-25T08:40", "2027-04-25T12:10"):
        assert f"partybot jobs run theme_day --now {moment}" in walk
    assert "2027-03-" not in walk
