"""Logging in to the web console: by the chat code end to end (the page's code, `登录 NNNN` signed through
the webhook, the page logged in in a new session), a reused, an expired and a refused code; the admin
password with its lockout; CSRF; the 30-minute idle timeout; 退出; `partybot console passwd`."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli import main
from bot.clock import FixedClock
from bot.content import load_content
from bot.domain import console
from models import ConsoleLockout, ConsolePassword, ConsoleSession
from models.db import Database
from tests.community import seed
from tests.conftest import DATA_KEY, AppFactory, StackFactory
from tests.console import code_of, csrf_of, get, log_in, login_page, post, session_cookie
from tests.helpers import services
from tests.wechat import ThroughFake, WeChatUser

TEXTS = load_content()


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


async def make(make_client: AppFactory) -> TestClient[Any, Any]:
    client = await make_client()
    await seed(
        services(client).db,
        bind=("YX-001", "YX-002", "YX-004", "YX-007"),
        grid_worker="o-grid",
        admin="o-admin",
    )
    return client


async def count(client: TestClient[Any, Any], statement: Any) -> int:
    async with services(client).db.read() as session:
        return int(await session.scalar(statement) or 0)


# --- by the chat code ------------------------------------------------------------------------------------


async def test_login_by_chat_code_end_to_end(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    resp, _ = await get(client, "/console/")
    assert resp.status == 302 and resp.headers["Location"] == "/console/login"

    html = await login_page(client)
    code = code_of(html)
    assert f"{say('console_login_intro')}</p>" in html and say("console_login_command", code=code) in html
    before = session_cookie(client)
    assert before is not None
    resp = await client.get("/console/login/status")
    assert (await resp.json()) == {"state": "waiting"}

    answer = await WeChatUser(client, clock, openid="o-YX-002").send(f"登录 {code}")
    assert answer.text == say("console_login_done", name="林晓梅")
    resp = await client.get("/console/login/status")
    assert (await resp.json()) == {"state": "logged_in", "next": "/console/"}
    after = session_cookie(client)
    assert after is not None and after != before  # a new session: no fixation

    resp, html = await get(client, "/console/")
    assert resp.status == 200
    assert say("console_signed_in_as", name="林晓梅", role=say("console_role_secretary")) in html
    assert "第一网格党支部" in html
    # Cookie: HttpOnly, SameSite=Lax, only under /console; not Secure over plain HTTP.
    cookie = resp.cookies.get("partybot_console") or next(
        c for c in client.session.cookie_jar if c.key == "partybot_console"
    )
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/console"
    assert not cookie["secure"]
    assert (
        resp.headers["Cache-Control"] == "no-store"
        and "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    )

    # The session from before the login is worth nothing now.
    stale = await client.get("/console/", cookies={"partybot_console": before}, allow_redirects=False)
    assert stale.status == 302

    # The code was used: sending it again (by anyone) does nothing.
    again = await WeChatUser(client, clock, openid="o-YX-001").send(f"登录 {code}")
    assert again.text == say("console_login_unknown")
    resp, html = await get(client, "/console/")
    assert say("console_signed_in_as", name="林晓梅", role=say("console_role_secretary")) in html


async def test_without_javascript_a_reload_logs_in(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    html = await login_page(client)
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    code = code_of(html)
    assert code_of(await login_page(client)) == code  # a reload keeps the same code while it lives
    before = session_cookie(client)
    await WeChatUser(client, clock, openid="o-grid").send(f"登录：{code}")
    resp, _ = await get(client, "/console/login")
    assert resp.status == 302 and resp.headers["Location"] == "/console/"
    assert session_cookie(client) != before
    resp, html = await get(client, "/console/")
    assert resp.status == 200 and say("console_role_grid_worker") in html


async def test_an_expired_code_is_refused_and_the_page_shows_a_new_one(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    code = code_of(await login_page(client))
    clock.advance(console.CODE_LIFETIME.total_seconds() + 1)
    resp = await client.get("/console/login/status")
    assert (await resp.json()) == {"state": "expired"}
    answer = await WeChatUser(client, clock, openid="o-YX-002").send(f"登录 {code}")
    assert answer.text == say("console_login_unknown")
    html = await login_page(client)
    assert say("console_login_expired") in html
    fresh = code_of(html)  # a new code (it may by chance show the same digits: the old row stays dead)
    resp = await client.get("/console/login/status")
    assert (await resp.json()) == {"state": "waiting"}
    answer = await WeChatUser(client, clock, openid="o-YX-002").send(f"登录 {fresh}")
    assert answer.text == say("console_login_done", name="林晓梅")
    resp, _ = await get(client, "/console/login")
    assert resp.status == 302


async def test_residents_and_plain_members_may_not_log_in(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    code = code_of(await login_page(client))
    for openid in ("o-stranger", "o-YX-004"):
        answer = await WeChatUser(client, clock, openid=openid).send(f"登录 {code}")
        assert answer.text == say("console_login_refused")
    resp = await client.get("/console/login/status")
    assert (await resp.json()) == {"state": "waiting"}
    resp, _ = await get(client, "/console/")
    assert resp.status == 302
    # A committee member may, and the code still works after the refusals.
    await WeChatUser(client, clock, openid="o-YX-007").send(f"登录 {code}")
    resp = await client.get("/console/login/status")
    assert (await resp.json())["state"] == "logged_in"


async def test_a_code_belongs_to_the_browser_that_asked_for_it(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    code = code_of(await login_page(client))
    other: TestClient[Any, Any] = TestClient(client.server)  # another browser, same server
    try:
        await login_page(other)
        await WeChatUser(client, clock, openid="o-YX-002").send(f"登录 {code}")
        resp = await other.get("/console/login/status")
        assert (await resp.json()) == {"state": "waiting"}
        resp = await other.get("/console/", allow_redirects=False)
        assert resp.status == 302
    finally:
        await other.session.close()
    resp = await client.get("/console/login/status")
    assert (await resp.json())["state"] == "logged_in"


# --- the admin password ---------------------------------------------------------------------------------


async def set_password(client: TestClient[Any, Any], clock: FixedClock, password: str) -> None:
    now = clock.now()
    await services(client).db.run(lambda s: console.set_password(s, "管理员", password, now))


async def try_password(client: TestClient[Any, Any], password: str, name: str = "管理员") -> tuple[int, str]:
    token = csrf_of(await login_page(client))
    resp, html = await post(
        client, "/console/login/password", {"_csrf": token, "name": name, "password": password}
    )
    return resp.status, html


async def test_password_login_and_the_lockout(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await set_password(client, clock, "correct horse battery")
    before = session_cookie(client)
    for _ in range(console.MAX_FAILURES - 1):
        status, html = await try_password(client, "wrong password!")
        assert status == 401 and say("console_password_wrong") in html
    status, html = await try_password(client, "wrong password!")
    # T0 is 10:00 in Beijing: locked until 10:15.
    assert status == 401 and say("console_password_locked", count=5, until="10:15") in html
    # Locked: even the right password is refused, and nothing is logged in.
    status, html = await try_password(client, "correct horse battery")
    assert status == 401 and say("console_password_locked", count=5, until="10:15") in html
    clock.advance(console.LOCK_FOR.total_seconds() - 60)
    status, _ = await try_password(client, "correct horse battery")
    assert status == 401
    clock.advance(61)
    status, _ = await try_password(client, "correct horse battery")
    assert status == 302
    assert session_cookie(client) != before
    resp, html = await get(client, "/console/")
    assert resp.status == 200
    assert say("console_signed_in_as", name="管理员", role=say("console_role_admin")) in html
    assert await count(client, select(func.count()).select_from(ConsoleLockout)) == 0


async def test_unknown_names_count_failures_too(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    for _ in range(console.MAX_FAILURES):
        status, _ = await try_password(client, "whatever it is", name="没有这个人")
    status, html = await try_password(client, "whatever it is", name="没有这个人")
    assert status == 401 and say("console_password_locked", count=5, until="10:15") in html
    # An admin with no password cannot log in by one either.
    status, html = await try_password(client, "", name="管理员")
    assert status == 401 and say("console_password_wrong") in html


async def test_parallel_guesses_cannot_pass_the_count(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await set_password(client, clock, "correct horse battery")
    db, now = services(client).db, clock.now()
    first = await db.run(lambda s: console.check_password(s, "管理员", "guess 0", now))
    assert first.outcome is console.Checked.WRONG

    def guess(n: int) -> Any:
        return db.run(lambda s: console.check_password(s, "管理员", f"guess {n}", now))

    results = await asyncio.gather(*(guess(n) for n in range(1, 9)))
    outcomes = [r.outcome for r in results]
    # Three more are checked wrong, the next one (the fifth in all) locks, the other four go unchecked.
    assert outcomes.count(console.Checked.WRONG) == 3 and outcomes.count(console.Checked.LOCKED) == 5
    right = await db.run(lambda s: console.check_password(s, "管理员", "correct horse battery", now))
    assert right.outcome is console.Checked.LOCKED


def test_the_passwd_command_sets_an_argon2_hash(database_url: str) -> None:
    async def prepare() -> None:
        db = Database(database_url)
        try:
            await seed(db, admin="o-admin")
        finally:
            await db.dispose()

    asyncio.run(prepare())
    env = {
        "PARTYBOT_DATABASE_URL": database_url,
        "PARTYBOT_WECHAT_TOKEN": "cli-token",
        "PARTYBOT_DATA_KEY": DATA_KEY,
    }
    runner = CliRunner()
    short = runner.invoke(main, ["console", "passwd", "管理员", "--stdin"], input="short\n", env=env)
    assert short.exit_code == 2 and say("console_passwd_length", low=10, high=128) in short.output
    nobody = runner.invoke(main, ["console", "passwd", "谁", "--stdin"], input="long enough pw\n", env=env)
    assert nobody.exit_code == 2 and say("console_passwd_no_admin") in nobody.output
    done = runner.invoke(
        main, ["console", "passwd", "管理员"], input="long enough pw\nlong enough pw\n", env=env
    )
    assert done.exit_code == 0, done.output
    assert say("console_passwd_done", name="管理员") in done.output

    async def check() -> tuple[str, console.PasswordResult]:
        db = Database(database_url)
        try:
            async with db.read() as session:
                stored = str(await session.scalar(select(ConsolePassword.hash)))
            from bot.clock import FixedClock
            from tests.conftest import T0

            result = await db.run(
                lambda s: console.check_password(s, "管理员", "long enough pw", FixedClock(T0).now())
            )
            return stored, result
        finally:
            await db.dispose()

    stored, result = asyncio.run(check())
    assert stored.startswith("$argon2id$") and "long enough pw" not in stored
    assert result.outcome is console.Checked.OK


# --- CSRF, idle timeout, 退出 ----------------------------------------------------------------------------


async def test_a_form_without_the_right_csrf_token_is_refused(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    await set_password(client, clock, "correct horse battery")
    await login_page(client)
    for data in (
        {"name": "管理员", "password": "correct horse battery"},
        {"_csrf": "forged", "name": "管理员", "password": "correct horse battery"},
    ):
        resp, html = await post(client, "/console/login/password", data)
        assert resp.status == 403 and say("console_csrf") in html
    resp, _ = await get(client, "/console/")
    assert resp.status == 302  # not logged in
    await log_in(client, clock, "o-YX-002")
    _, html = await get(client, "/console/")
    for data in ({}, {"_csrf": "forged"}):
        resp, body = await post(client, "/console/logout", data)
        assert resp.status == 403 and say("console_csrf") in body
    resp, _ = await get(client, "/console/")
    assert resp.status == 200  # still logged in
    # The token of the session before the login does not carry over.
    resp, _ = await post(client, "/console/logout", {"_csrf": csrf_of(html)})
    assert resp.status == 302


async def test_sessions_end_after_30_minutes_idle(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-002")
    for _ in range(3):  # active: every 20 minutes, for an hour
        clock.advance(20 * 60)
        resp, _ = await get(client, "/console/members")
        assert resp.status == 200
    clock.advance(30 * 60 + 1)
    resp, _ = await get(client, "/console/")
    assert resp.status == 302 and resp.headers["Location"] == "/console/login"


async def test_the_idle_page_says_why(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-002")
    clock.advance(31 * 60)
    resp, html = await get(client, "/console/login")
    assert resp.status == 200 and say("console_login_timed_out") in html


async def test_logout_ends_the_session_everywhere(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-YX-002")
    token = session_cookie(client)
    _, html = await get(client, "/console/")
    assert f">{say('console_logout')}</button>" in html
    resp, _ = await post(client, "/console/logout", {"_csrf": csrf_of(html)})
    assert resp.status == 302 and resp.headers["Location"] == "/console/login?bye=1"
    resp, html = await get(client, "/console/login?bye=1")
    assert say("console_logged_out") in html
    # The old cookie, replayed, logs nobody in: the row is gone.
    replay = await client.get("/console/", cookies={"partybot_console": str(token)}, allow_redirects=False)
    assert replay.status == 302
    rows = await count(client, select(func.count()).select_from(ConsoleSession))
    assert rows == 1  # only the login page's new anonymous session


async def test_the_large_type_switch_works_without_script(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    html = await login_page(client)
    assert '<html lang="zh-CN">' in html
    resp, _ = await post(client, "/console/display", {"_csrf": csrf_of(html), "next": "/console/login"})
    assert resp.status == 302 and resp.headers["Location"] == "/console/login"
    html = await login_page(client)
    assert '<html lang="zh-CN" class="large">' in html and say("console_large_off") in html
    await log_in(client, clock, "o-YX-002")  # kept across the login
    _, html = await get(client, "/console/")
    assert 'class="large"' in html
    resp, _ = await post(
        client, "/console/display", {"_csrf": csrf_of(html), "next": "https://evil.example/"}
    )
    assert resp.headers["Location"] == "/console/"


async def test_behind_https_the_cookie_is_secure(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(console_secure_cookies=True)
    resp = await client.get("/console/login")
    cookie = resp.cookies["partybot_console"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_the_console_can_be_switched_off(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client(console=False)
    resp = await client.get("/console/login")
    assert resp.status == 404
    # `登录 …` in chat then matches no code: nothing to confirm.
    await seed(services(client).db, bind=("YX-002",))
    answer = await WeChatUser(client, clock, openid="o-YX-002").send("登录 1234")
    assert answer.text == say("console_login_unknown")


async def test_on_a_service_account_the_page_shows_a_qr_code_to_scan(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    from bot.settings import AccountKind

    stack = await make_stack()
    await seed(services(stack.client).db, bind=("YX-002", "YX-004"))
    client = stack.client
    html = await login_page(client)
    assert 'id="login-qr"' in html and 'src="data:image/svg+xml' in html and say("console_login_qr") in html
    (scene,) = stack.fake.qrcodes.values()  # one temporary QR_STR_SCENE code, holding the page's nonce
    assert scene.startswith(console.SCENE) and code_of(html) not in scene
    await login_page(client)
    assert len(stack.fake.qrcodes) == 1  # made once per code, not at every reload

    # A member who is no staff scans it: refused, the page still waits.
    member = ThroughFake(stack, "o-YX-004")
    assert (await member.event("SCAN", EventKey=scene)).text == say("console_login_refused")
    assert (await (await client.get("/console/login/status")).json())["state"] == "waiting"
    # The branch secretary scans it (already following: SCAN; a new follower's subscribe works the same).
    answer = await ThroughFake(stack, "o-YX-002").event("SCAN", EventKey=scene)
    assert answer.text == say("console_login_done", name="林晓梅")
    assert (await (await client.get("/console/login/status")).json())["state"] == "logged_in"
    resp, html = await get(client, "/console/")
    assert (
        resp.status == 200
        and say("console_signed_in_as", name="林晓梅", role=say("console_role_secretary")) in html
    )
    # Used: scanning it again (a second later: the same second is WeChat's retry) does nothing.
    clock.advance(1)
    again = await ThroughFake(stack, "o-YX-002").event("SCAN", EventKey=scene)
    assert again.text == say("console_login_scan_stale")

    # A subscription account may make no QR codes: the code alone.
    other = await make_stack(account=AccountKind.SUBSCRIPTION)
    html = await login_page(other.client)
    assert 'id="login-qr"' not in html and code_of(html)
    assert other.fake.qrcodes == {}
