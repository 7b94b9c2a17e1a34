"""Driving the web console as a browser would (aiohttp's test client keeps the cookies): the login page's
code, logging in by chat through the signed webhook, the CSRF token of a page's forms."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from bot.clock import FixedClock
from bot.console.sessions import COOKIE
from tests.wechat import WeChatUser

CODE = re.compile(r"登录 (\d{4})")
CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


def code_of(html: str) -> str:
    found = CODE.search(html)
    assert found is not None, html
    return found.group(1)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def session_cookie(client: TestClient[Any, Any]) -> str | None:
    for cookie in client.session.cookie_jar:
        if cookie.key == COOKIE:
            return cookie.value
    return None


async def get(client: TestClient[Any, Any], path: str) -> tuple[ClientResponse, str]:
    resp = await client.get(path, allow_redirects=False)
    return resp, await resp.text()


async def login_page(client: TestClient[Any, Any]) -> str:
    resp, html = await get(client, "/console/login")
    assert resp.status == 200, html
    return html


async def log_in(client: TestClient[Any, Any], clock: FixedClock, openid: str) -> str:
    """Log in by the chat code as `openid`; returns the chat's answer."""
    code = code_of(await login_page(client))
    answer = await WeChatUser(client, clock, openid=openid).send(f"登录 {code}")
    resp = await client.get("/console/login/status")
    assert (await resp.json())["state"] == "logged_in", answer.text
    return answer.text


async def post(client: TestClient[Any, Any], path: str, data: dict[str, str]) -> tuple[ClientResponse, str]:
    resp = await client.post(path, data=data, allow_redirects=False)
    return resp, await resp.text()
