"""`partybot demo` and `partybot chat` as a new user runs them: two processes, a terminal (pty)."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import subprocess
from pathlib import Path

from bot.dev.chat import parse_line, push_text
from tests.test_serve_process import PARTYBOT, free_port


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
            await chat.expect("“反映问题（报修、求助、投诉）”即将开通")
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
    push = {"api": "template", "msgtype": "template", "content": {"data": {"thing1": {"value": "主题党日"}}}}
    assert push_text(push) == "[模板消息] thing1：主题党日"
