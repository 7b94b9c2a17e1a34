"""The console in a real browser: Playwright for Python driving Debian's Chromium (headless) against the app
served on a loopback port. A secretary opens the login page, reads the code, sends `登录 NNNN` through the
signed webhook, and the page's poll takes them to the dashboard; then the members page, one member, the
large-type switch, at an office PC's 1366×768 and a phone's width, and 退出. A screenshot of each page is
saved under the test's tmp_path (or PARTYBOT_TEST_ARTIFACTS, when set, for CI to keep)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.clock import FixedClock
from bot.content import load_content
from tests.browser import DESKTOP, artifacts, launch_args, watch
from tests.community import seed
from tests.conftest import AppFactory
from tests.helpers import services
from tests.wechat import WeChatUser

TEXTS = load_content()


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


async def test_a_secretary_logs_in_by_the_chat_code_in_a_browser(
    make_client: AppFactory, clock: FixedClock, tmp_path: Path, chromium: str
) -> None:
    from playwright.async_api import async_playwright

    client: TestClient[Any, Any] = await make_client()
    await seed(services(client).db, bind=("YX-002",))
    base = str(client.make_url("")).rstrip("/")
    shots = artifacts(tmp_path)
    args = launch_args()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True, args=args)
        try:
            context = await browser.new_context(**DESKTOP)
            page = await context.new_page()
            errors: list[str] = []
            watch(page, errors)

            await page.goto(f"{base}/console/")
            assert page.url == f"{base}/console/login"
            command = await page.inner_text("#code-command")
            found = re.fullmatch(r"登录 (\d{4})", command.strip())
            assert found is not None, command
            assert say("console_login_intro") in await page.inner_text("#login-code")
            await page.screenshot(path=str(shots / "login.png"), full_page=True)

            answer = await WeChatUser(client, clock, openid="o-YX-002").send(command)
            assert answer.text == say("console_login_done", name="林晓梅")
            await page.wait_for_url(f"{base}/console/", timeout=15_000)  # the page's poll went on by itself
            heading = await page.inner_text("h1")
            assert heading == say("console_dashboard_heading", unit="第一网格党支部", month="2026年11月")
            assert await page.is_visible("#dues") and await page.is_visible("#requests")
            await page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

            await page.click(f"text={say('console_nav_members')}")
            await page.wait_for_url(f"{base}/console/members")
            table = await page.inner_text("#members")
            assert "王秀兰" in table and "138****8004" in table and "13800138004" not in table
            await page.screenshot(path=str(shots / "members.png"), full_page=True)
            await page.fill("#q", "郑")
            await page.click(f"button:has-text('{say('console_members_search_submit')}')")
            assert "郑国平" in await page.inner_text("#members")
            await page.click("text=郑国平")
            assert await page.inner_text("h1") == say(
                "console_member_heading", name="郑国平", number="YX-009"
            )
            await page.screenshot(path=str(shots / "member.png"), full_page=True)

            # Large type and high contrast, by a plain form.
            small = await page.evaluate("getComputedStyle(document.body).fontSize")
            await page.click(f"button:has-text('{say('console_large_on')}')")
            assert await page.get_attribute("html", "class") == "large"
            large = await page.evaluate("getComputedStyle(document.body).fontSize")
            assert float(large.removesuffix("px")) >= 22 > float(small.removesuffix("px"))
            await page.screenshot(path=str(shots / "member-large.png"), full_page=True)

            # A phone: nothing wider than the screen but the tables, which scroll inside their box.
            await page.set_viewport_size({"width": 375, "height": 740})
            await page.goto(f"{base}/console/")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0
            await page.screenshot(path=str(shots / "dashboard-phone.png"), full_page=True)

            await page.click("#logout")
            await page.wait_for_url(f"{base}/console/login?bye=1")
            assert say("console_logged_out") in await page.inner_text("main")
            await page.screenshot(path=str(shots / "logged-out.png"), full_page=True)
            await page.goto(f"{base}/console/members")
            assert page.url == f"{base}/console/login"
            assert errors == []
        finally:
            await browser.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "dashboard-phone.png",
        "dashboard.png",
        "logged-out.png",
        "login.png",
        "member-large.png",
        "member.png",
        "members.png",
    ]
