"""The web phone simulator under /sim (bot/sim): only against the fake WeChat, the people to play, a
message and its reply, the menu buttons, a location, a photo and a recognised voice message, pushes as they
arrive, a pushed voice clip converted for the browser; and in a real browser, a secretary's announcement
from the console (and from the chat) arriving on an elderly member's phone as text and a playable clip."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.clock import FixedClock
from bot.content import load_content
from bot.settings import AccountKind, Settings
from bot.sim.web import sim_enabled
from bot.voice.speech import AmrEncoder
from tests.browser import DESKTOP, artifacts, launch_args
from tests.community import seed
from tests.conftest import AppFactory, Stack, StackFactory, require
from tests.console import code_of, csrf_of
from tests.helpers import flush, services

TEXTS = load_content()
BODY = "本周六上午9点在社区党群服务中心开展垃圾分类志愿服务，请有空的同志参加。"
BOUND = ("YX-001", "YX-002", "YX-004", "YX-006")
MEDIA = re.compile(r'src="/sim/voice/([A-Za-z0-9_-]+)"')


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


async def voice_tools() -> None:
    require("espeak-ng", shutil.which("espeak-ng") is not None, "apt-get install espeak-ng")
    require("ffmpeg", shutil.which("ffmpeg") is not None, "apt-get install ffmpeg libavcodec-extra")
    amr = await AmrEncoder().has_amr_encoder()
    require("ffmpeg's AMR-NB encoder", amr, "apt-get install libavcodec-extra")


async def sim_stack(make_stack: StackFactory) -> Stack:
    stack = await make_stack(sim=True)
    await seed(services(stack.client).db, bind=BOUND, admin="o-admin", grid_worker="o-grid")
    stack.fake.follow([f"o-{n}" for n in BOUND] + ["o-admin", "o-grid"])
    return stack


async def page(client: TestClient[Any, Any], openid: str | None = None) -> str:
    resp = await client.get("/sim/" + (f"?u={openid}" if openid else ""))
    assert resp.status == 200
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    return await resp.text()


async def act(client: TestClient[Any, Any], openid: str, **form: str) -> str:
    """Post one of the page's forms as the browser would; returns the page it redirects to."""
    csrf = csrf_of(await page(client, openid))
    resp = await client.post("/sim/send", data={"_csrf": csrf, "u": openid, **form}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == f"/sim/?u={openid}"
    return await page(client, openid)


async def feed(client: TestClient[Any, Any], openid: str) -> dict[str, Any]:
    resp = await client.get("/sim/feed", params={"u": openid})
    assert resp.status == 200
    data: dict[str, Any] = await resp.json()
    return data


async def decodes(audio: bytes) -> float:
    """The clip's length in seconds as ffmpeg reads it (fails when it cannot decode it)."""
    process = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-i",
        "pipe:0",
        "-f",
        "null",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate(audio)
    assert process.returncode == 0, err.decode(errors="replace")[-500:]
    times = re.findall(r"time=(\d+):(\d+):(\d+\.\d+)", err.decode())
    assert times, err.decode()
    h, m, s = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


async def test_the_simulator_is_there_only_when_asked_for_and_against_the_fake(
    make_client: AppFactory, make_stack: StackFactory, make_settings: Any
) -> None:
    plain = await make_client()
    assert (await plain.get("/sim/")).status == 404  # not asked for
    asked = await make_client(sim=True)  # asked for, but the API base is WeChat's: never
    assert (await asked.get("/sim/")).status == 404
    assert (await asked.get("/sim/voice/MEDIA_x")).status == 404
    fake_only = await make_stack()  # the fake, but not asked for
    assert (await fake_only.client.get("/sim/")).status == 404
    stack = await make_stack(sim=True)
    assert (await stack.client.get("/sim/")).status == 200
    settings: Settings = make_settings(sim=True, wechat_api_base="http://127.0.0.1:9")
    assert sim_enabled(settings)
    assert sim_enabled(make_settings(sim=True, wechat_api_base="http://localhost:9"))
    assert not sim_enabled(make_settings(sim=True, wechat_api_base="https://api.weixin.qq.com"))
    assert not sim_enabled(make_settings(sim=True, wechat_api_base="http://10.0.0.5:8080"))
    assert not sim_enabled(make_settings(wechat_api_base="http://127.0.0.1:9"))


async def test_without_the_fake_running_the_page_says_so(make_client: AppFactory) -> None:
    client = await make_client(sim=True, wechat_api_base="http://127.0.0.1:9")  # nothing listens there
    html = await page(client, "o-someone")
    assert say("console_sim_unreachable", url="http://127.0.0.1:9") in html
    resp = await client.post(
        "/sim/send",
        data={"_csrf": csrf_of(html), "u": "o-someone", "kind": "text", "content": "你好"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/sim/?u=o-someone"
    assert (await client.get("/sim/feed", params={"u": "o-someone"})).status == 502
    assert (await client.get("/sim/feed", params={"u": "<x>"})).status == 404


def test_partybot_demo_turns_the_simulator_on_and_prints_its_address(tmp_path: Path) -> None:
    from bot.dev.demo import console_line, demo_settings, sim_line

    settings = demo_settings(tmp_path, "127.0.0.1", 8080, 8081, "k" * 43, AccountKind.SERVICE)
    assert settings.sim and sim_enabled(settings)
    assert sim_line(settings, "127.0.0.1", 8080) == say("console_sim_demo_line", host="127.0.0.1", port=8080)
    assert "http://127.0.0.1:8080/sim/" in sim_line(settings, "127.0.0.1", 8080)
    assert console_line(settings, "127.0.0.1", 8080)  # next to the console's line
    elsewhere = settings.model_copy(update={"wechat_api_base": "https://api.weixin.qq.com"})
    assert sim_line(elsewhere, "127.0.0.1", 8080) == ""


async def test_the_page_lists_the_people_to_play_and_a_new_user(make_stack: StackFactory) -> None:
    stack = await sim_stack(make_stack)
    html = await page(stack.client)
    for shown in (
        "管理员 · 管理员",
        "周建国 · 书记 · 银杏社区党委（YX-001）",
        "林晓梅 · 书记 · 第一网格党支部（YX-002）",
        "王秀兰 · 党员 · 1号楼党小组（YX-004）",
        "孙丽娟 · 组长 · 1号楼党小组（YX-006）",
        "韩磊 · 网格员 · 第一网格党支部（WG-01）",
    ):
        assert shown in html, shown
    assert html.index("管理员 · 管理员") < html.index("YX-001") < html.index("YX-006") < html.index("WG-01")
    assert say("console_sim_choose") in html
    assert "郑国平" not in html  # not bound: played as a new user who binds
    resp = await stack.client.get("/sim/new", allow_redirects=False)
    assert resp.status == 303
    new = re.fullmatch(r"/sim/\?u=(o-sim-[0-9a-f]{8})", resp.headers["Location"])
    assert new is not None
    html = await page(stack.client, new.group(1))
    assert say("console_sim_person_new", openid=new.group(1)) in html
    assert say("console_sim_not_following") in html and 'id="follow"' in html
    bad = await stack.client.get("/sim/", params={"u": "<script>"})
    assert say("console_sim_bad_user") in await bad.text()
    assert "<script>" not in (await bad.text()).split("<body>")[1]


async def test_messages_menu_buttons_location_photo_and_voice_get_the_bots_replies(
    make_stack: StackFactory,
) -> None:
    stack = await sim_stack(make_stack)
    client = stack.client
    # Without the page's token nothing is sent.
    resp = await client.post(
        "/sim/send", data={"u": "o-YX-004", "kind": "text", "content": "你好"}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == "/sim/?u=o-YX-004&expired=1"
    assert stack.sends("o-YX-004") == []
    assert say("console_sim_expired") in await (await client.get(resp.headers["Location"])).text()

    html = await act(client, "o-YX-004", kind="text", content="你好")
    assert "王秀兰同志，您好。" in html  # the bot's passive reply, under the user's message
    assert html.index('<p class="text">你好</p>') < html.index("王秀兰同志，您好。")
    assert say("console_sim_you_are", who="王秀兰 · 党员 · 1号楼党小组（YX-004）") in html
    assert stack.sends("o-YX-004", api="passive")

    # The account's menu buttons are CLICK events (content/menus.yaml menu_keys).
    for key in TEXTS.menu_keys:
        assert f'id="menu-{key}"' in html
    before = len(stack.sends("o-YX-004", api="passive"))
    html = await act(client, "o-YX-004", kind="click", key="MENU_HELP")
    assert say("console_sim_sent_click", label="帮助") in html
    assert len(stack.sends("o-YX-004", api="passive")) == before + 1

    html = await act(client, "o-YX-004", kind="location")
    assert say("console_sim_sent_location", label=say("console_sim_location_label")) in html
    assert "已收到您的位置。" in html
    html = await act(client, "o-YX-004", kind="image")
    assert say("console_sim_sent_image") in html
    html = await act(client, "o-YX-004", kind="voice", content="我的党费")
    assert say("console_sim_sent_voice", text="我的党费") in html
    received = [f for f in stack.fake.received.values() if f.get("FromUserName") == "o-YX-004"]
    assert [f["MsgType"] for f in received] == ["text", "location", "image", "voice"]
    assert received[-1]["Recognition"] == "我的党费"
    assert received[1]["Label"] == say("console_sim_location_label")
    # An unknown menu key or kind is not sent.
    count = len(stack.fake.received)
    await act(client, "o-YX-004", kind="click", key="MENU_NOPE")
    await act(client, "o-YX-004", kind="teleport")
    await act(client, "o-YX-004", kind="text", content="   ")
    assert len(stack.fake.received) == count

    # A new user follows first, and is greeted as a resident.
    html = await act(client, "o-sim-0000abcd", kind="follow")
    assert say("console_sim_sent_follow") in html and 'id="follow"' not in html
    assert stack.fake.user("o-sim-0000abcd").following
    html = await act(client, "o-sim-0000abcd", kind="unfollow")
    assert say("console_sim_sent_unfollow") in html and 'id="follow"' in html
    assert not stack.fake.user("o-sim-0000abcd").following


async def test_pushes_appear_and_a_pushed_voice_clip_plays_in_the_browser(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    await voice_tools()
    stack = await sim_stack(make_stack)
    client = stack.client
    await act(client, "o-YX-004", kind="text", content="你好")  # her customer-service window opens
    await flush(client)  # (written behind: the tests' interval is an hour)
    first = await feed(client, "o-YX-004")
    # The secretary announces from the simulator, as in chat.
    html = await act(client, "o-YX-001", kind="text", content=f"公告 {BODY}")
    assert "回复“确认”发送" in html
    html = await act(client, "o-YX-001", kind="text", content="确认")
    assert "已开始发送" in html
    await stack.worker.drain()
    await stack.fake.settle()

    data = await feed(client, "o-YX-004")
    assert data["count"] > first["count"]
    assert BODY in data["html"] and "客服消息" in data["html"]
    assert data["html"].index("你好") < data["html"].index(BODY)
    clips = MEDIA.findall(data["html"])
    assert clips, data["html"]
    html = await page(client, "o-YX-004")
    assert BODY in html and f'src="/sim/voice/{clips[0]}"' in html

    resp = await client.get(f"/sim/voice/{clips[0]}")
    assert resp.status == 200 and resp.content_type == "audio/mpeg"
    audio = await resp.read()
    assert len(audio) > 1000
    assert await decodes(audio) > 0.5
    again = await client.get(f"/sim/voice/{clips[0]}")  # from the cache
    assert await again.read() == audio
    missing = await client.get("/sim/voice/MEDIA_gone")
    assert missing.status == 404 and say("console_sim_voice_missing") in await missing.text()
    assert (await client.get("/sim/voice/..%2Fetc")).status == 404


# --- in a browser ---------------------------------------------------------------------------------------


async def _watch_her_phone(page: Any, base: str, shots: Path, name: str) -> None:
    """王秀兰's phone in the simulator: the notice's text arrives by the page's poll, and its clip loads."""
    await page.wait_for_function(
        "body => document.getElementById('conversation').innerText.includes(body)", arg=BODY, timeout=15_000
    )
    await page.wait_for_selector("#conversation audio", state="attached", timeout=15_000)
    duration = await page.evaluate(
        """() => new Promise((resolve, reject) => {
            const audio = document.querySelector('#conversation audio');
            const done = () => resolve(audio.duration);
            if (audio.readyState >= 1) { done(); return; }
            audio.addEventListener('loadedmetadata', done, { once: true });
            audio.addEventListener('error', () => reject(new Error('audio error ' + audio.error.code)));
            audio.load();
        })"""
    )
    assert duration > 0
    await page.screenshot(path=str(shots / name), full_page=True)


async def _browser(executable: str) -> Any:
    from playwright.async_api import async_playwright

    p = await async_playwright().start()
    args = launch_args()
    browser = await p.chromium.launch(executable_path=executable, headless=True, args=args)
    return p, browser


async def _sim_send(page: Any, text: str) -> None:
    await page.fill("#message", text)
    await page.click("#send")
    await page.wait_for_load_state()


async def test_an_announcement_from_the_console_arrives_in_the_simulator_as_text_and_voice(
    make_stack: StackFactory,
    clock: FixedClock,
    tmp_path: Path,
    chromium: str,
) -> None:
    await voice_tools()
    stack = await sim_stack(make_stack)
    base = str(stack.client.make_url("")).rstrip("/")
    shots = artifacts(tmp_path)
    p, browser = await _browser(chromium)
    try:
        context = await browser.new_context(**DESKTOP)
        errors: list[str] = []
        phone = await context.new_page()
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        phone.on("dialog", lambda dialog: errors.append(f"a pop-up: {dialog.message}"))
        # 王秀兰 writes first (her customer-service window opens: the notice's voice can follow its text).
        await phone.goto(f"{base}/sim/")
        await phone.select_option("#who", "o-YX-004")
        await phone.click("#pick")
        await _sim_send(phone, "你好")
        assert "王秀兰同志，您好。" in await phone.inner_text("#conversation")
        await flush(stack.client)

        console = await context.new_page()
        console.on("pageerror", lambda exc: errors.append(str(exc)))
        await console.goto(f"{base}/console/login")
        code = code_of(await console.content())
        # The secretary logs in to the console by the chat code, sent from the simulator.
        await phone.goto(f"{base}/sim/?u=o-YX-001")
        await _sim_send(phone, f"登录 {code}")
        assert say("console_login_done", name="周建国") in await phone.inner_text("#conversation")
        await console.wait_for_url(f"{base}/console/", timeout=15_000)
        # 通知公告 → 发布: the compose form (textarea#text, select#unit, button#preview, button#confirm).
        await console.goto(f"{base}/console/announcements/new")
        await console.fill("textarea#text", BODY)
        units = await console.eval_on_selector_all("select#unit option", "os => os.map(o => o.value)")
        assert units[0].endswith("银杏社区党委"), units  # the community secretary's own unit comes first
        await console.select_option("select#unit", units[0])
        await console.click("button#preview")
        await console.wait_for_selector("button#confirm")
        await console.screenshot(path=str(shots / "console-announcement-preview.png"), full_page=True)
        await console.click("button#confirm")
        await console.wait_for_url(re.compile(r".*/console/announcements/\d+\?sent=1$"))
        await stack.worker.drain()
        await stack.fake.settle()

        await phone.goto(f"{base}/sim/?u=o-YX-004")
        await _watch_her_phone(phone, base, shots, "sim-console-announcement.png")
        assert errors == []
    finally:
        await browser.close()
        await p.stop()


async def test_an_announcement_from_the_chat_arrives_in_the_simulator_as_text_and_voice(
    make_stack: StackFactory,
    clock: FixedClock,
    tmp_path: Path,
    chromium: str,
) -> None:
    await voice_tools()
    stack = await sim_stack(make_stack)
    base = str(stack.client.make_url("")).rstrip("/")
    shots = artifacts(tmp_path)
    p, browser = await _browser(chromium)
    try:
        context = await browser.new_context(**DESKTOP)
        errors: list[str] = []
        phone = await context.new_page()
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        phone.on("dialog", lambda dialog: errors.append(f"a pop-up: {dialog.message}"))
        await phone.goto(f"{base}/sim/?u=o-YX-004")
        await _sim_send(phone, "你好")
        await flush(stack.client)
        await phone.screenshot(path=str(shots / "sim-member.png"), full_page=True)

        # A second tab: the secretary announces by chat, in the simulator.
        secretary = await context.new_page()
        secretary.on("pageerror", lambda exc: errors.append(str(exc)))
        await secretary.goto(f"{base}/sim/?u=o-YX-001")
        await _sim_send(secretary, f"公告 {BODY}")
        assert "回复“确认”发送" in await secretary.inner_text("#conversation")
        await _sim_send(secretary, "确认")
        assert "已开始发送" in await secretary.inner_text("#conversation")
        await secretary.click("#menu-MENU_HELP")
        await secretary.wait_for_load_state()
        assert say("console_sim_sent_click", label="帮助") in await secretary.inner_text("#conversation")
        await secretary.screenshot(path=str(shots / "sim-secretary.png"), full_page=True)
        await stack.worker.drain()
        await stack.fake.settle()

        # 王秀兰's tab was left open: the poll brings the notice without a reload.
        await _watch_her_phone(phone, base, shots, "sim-member-notice.png")
        await phone.set_viewport_size({"width": 375, "height": 740})
        await phone.reload()
        overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        wide = await phone.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
            "window.innerWidth + 1).map(e => e.tagName + '.' + e.className + '#' + e.id)"
        )
        assert overflow <= 0, wide
        await phone.screenshot(path=str(shots / "sim-member-phone.png"), full_page=True)
        assert errors == []
    finally:
        await browser.close()
        await p.stop()


async def test_scanning_the_console_login_qr_code_from_the_simulator_logs_the_page_in(
    make_stack: StackFactory,
) -> None:
    stack = await sim_stack(make_stack)
    client = stack.client
    # Nothing to scan yet: said, nothing sent.
    html = await act(client, "o-YX-001", kind="scan")
    assert say("console_sim_no_qr") in html and stack.sends("o-YX-001", api="passive") == []
    # The console's login page (a service account: with its QR code), then 扫一扫 as 周建国.
    login = await client.get("/console/login")
    assert 'id="login-qr"' in await login.text()
    html = await act(client, "o-YX-001", kind="scan")
    assert say("console_sim_sent_scan") in html and say("console_login_done", name="周建国") in html
    status = await client.get("/console/login/status")
    assert (await status.json())["state"] == "logged_in"
