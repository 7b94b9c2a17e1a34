"""The console's 通知公告 through HTTP, against chat's `公告` on the same community: the compose form, the
preview with chat's numbers and words (bot.outbound.announcements, one rule for both), confirming once
however often it is pressed, the status as `公告状态` words it, the list and its audited XLSX, and who is
refused what. One browser test (Playwright, Debian's Chromium) composes, previews, confirms and reads the
status at an office PC's 1366×768 and a phone's 390×844."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.content import load_content
from bot.outbound.notices import Channel
from bot.outbound.sizes import MAX_CHARS
from models import AuditEntry, Notice, OutboxRow
from tests.browser import DESKTOP, artifacts, launch_args, watch
from tests.community import BRANCH1, BRANCH2, COMMUNITY, GROUP1, seed
from tests.conftest import AppFactory, StackFactory
from tests.console import csrf_of, get, log_in, post
from tests.helpers import flush, services
from tests.test_outbound import BODY, community
from tests.wechat import ThroughFake, WeChatUser

TEXTS = load_content()
TOKEN = re.compile(r'name="token" value="([^"]+)"')
STATUS = re.compile(r'<p id="status-line">([^<]+)</p>')


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


def token_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found is not None, html
    return found.group(1)


def number(html: str, name: str) -> int:
    found = re.search(rf'<dd id="n-{name}">(\d+)</dd>', html)
    assert found is not None, html
    return int(found.group(1))


async def notices(client: TestClient[Any, Any]) -> list[Notice]:
    async with services(client).db.read() as session:
        return list((await session.scalars(select(Notice).order_by(Notice.id))).all())


async def audits(client: TestClient[Any, Any], action: str) -> list[AuditEntry]:
    async with services(client).db.read() as session:
        query = select(AuditEntry).where(AuditEntry.action == action)
        return list((await session.scalars(query)).all())


async def compose(client: TestClient[Any, Any]) -> str:
    resp, html = await get(client, "/console/announcements/new")
    assert resp.status == 200, html
    return csrf_of(html)


async def preview(
    client: TestClient[Any, Any], text: str, unit: str, audience: str = "all", status: int = 200
) -> str:
    token = await compose(client)
    data = {"_csrf": token, "text": text, "unit": unit, "audience": audience}
    resp, html = await post(client, "/console/announcements/preview", data)
    assert resp.status == status, html
    return html


def confirm_form(html: str, **changes: str) -> dict[str, str]:
    form = {"_csrf": csrf_of(html), "token": token_of(html)}
    for name in ("text", "unit", "audience"):
        found = re.search(rf'name="{name}" value="([^"]*)"', html)
        assert found is not None, html
        form[name] = found.group(1)
    form.update(changes)
    return form


async def used_mass_sends(client: TestClient[Any, Any], clock: FixedClock, openid: str) -> None:
    """`openid` has had this month's four mass sends (as in tests/test_outbound.py)."""

    def write(session: Any) -> None:
        for i in range(4):
            session.add(
                OutboxRow(
                    idempotency_key=f"earlier-mass-{i}",
                    openid=openid,
                    kind="notice",
                    channel=Channel.MASS_SEND.value,
                    status="sent",
                    payload={},
                    created_at=clock.now(),
                    updated_at=clock.now(),
                )
            )

    await services(client).db.run(write)


async def test_compose_preview_confirm_and_status_agree_with_chat(
    make_stack: StackFactory, clock: FixedClock
) -> None:
    stack = await make_stack()
    client = stack.client
    await community(stack)
    for number_ in ("YX-002", "YX-004", "YX-006"):
        await ThroughFake(stack, f"o-{number_}").send("你好")
    await flush(client)
    await used_mass_sends(client, clock, "o-YX-013")

    # What chat shows 周建国 (社区党委书记) for the same text: the whole community, then 第一网格党支部's
    # in-service members (options 2, then 5).
    chat = WeChatUser(client, clock, "o-YX-001")
    shown = (await chat.send(f"公告 {BODY}")).text
    assert shown.startswith(
        "将发送给：银杏社区党委，共 9 人（含您本人，不另发给您；其中 2 人同时收到语音；1 人未绑定微信"
    )
    narrowed = (await chat.send("2")).text
    narrowed = (await chat.send("5")).text
    assert narrowed.startswith("将发送给：第一网格党支部的在职党员，共 1 人（其中 0 人同时收到语音）。")
    await chat.send("取消")

    await log_in(client, clock, "o-YX-001")
    resp, html = await get(client, "/console/announcements/new")
    assert resp.status == 200
    assert '<textarea id="text" name="text"' in html and '<button id="preview" type="submit">' in html
    options = re.findall(r'<option value="([^"]*)"', html)
    assert options == [COMMUNITY, BRANCH1, GROUP1, BRANCH2]  # the scope's unit first, in the tree's order
    assert re.findall(r'name="audience" id="audience-\w+" value="(\w+)"', html) == [
        "all",
        "in_service",
        "elderly",
        "mobile",
    ]

    html = await preview(client, BODY, COMMUNITY)
    # The same summary, notes and numbers chat shows, from the same functions.
    lines = shown.splitlines()
    assert lines[0] in html and lines[1] in html
    assert "其中 1 人本月群发次数已用完，将等其下次发消息时送达。" in shown
    assert "其中 1 人本月群发次数已用完，将等其下次发消息时送达。" in html
    assert (number(html, "total"), number(html, "recipients")) == (9, 8)
    assert (number(html, "voice"), number(html, "unbound"), number(html, "quota")) == (2, 1, 1)
    assert f"【银杏社区党委通知】{BODY}" in html  # as members read it
    assert '<button id="confirm" type="submit">' in html
    small = await preview(client, BODY, BRANCH1, "in_service")
    assert narrowed.splitlines()[0] in small

    # 修改: back to the form with the text kept.
    edit = {"_csrf": csrf_of(html), "edit": "1", "text": BODY, "unit": BRANCH1, "audience": "elderly"}
    resp, back = await post(client, "/console/announcements/preview", edit)
    assert resp.status == 200 and f">{BODY}</textarea>" in back
    assert f'<option value="{BRANCH1}" selected>' in back and 'value="elderly" checked' in back
    assert await notices(client) == []

    # Confirm; pressing it again (or reloading) goes to the same notice and sends nothing more.
    form = confirm_form(html)
    resp, _ = await post(client, "/console/announcements/confirm", form)
    assert resp.status == 303
    location = resp.headers["Location"]
    found = re.fullmatch(r"/console/announcements/(\d+)\?sent=1", location)
    assert found is not None, location
    notice_id = int(found.group(1))
    resp, _ = await post(client, "/console/announcements/confirm", form)
    assert (resp.status, resp.headers["Location"]) == (303, f"/console/announcements/{notice_id}")
    (notice,) = await notices(client)
    assert notice.id == notice_id and notice.recipients == 8 and notice.author == "member:YX-001"
    assert notice.text == f"【银杏社区党委通知】{BODY}" and notice.unit_path == COMMUNITY
    async with services(client).db.read() as session:
        rows = await session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.notice_id == notice_id)
        )
    assert rows == 8  # one per member but the sender

    # Two presses at once (a double click): one notice.
    twice = confirm_form(await preview(client, "明天上午9点打扫楼道，请党员带头。", BRANCH2))
    first, second = await asyncio.gather(
        post(client, "/console/announcements/confirm", twice),
        post(client, "/console/announcements/confirm", twice),
    )
    assert first[0].status == second[0].status == 303
    assert first[0].headers["Location"].split("?")[0] == second[0].headers["Location"].split("?")[0]
    assert len(await notices(client)) == 2

    # The status, once the worker has been: the words of chat's 公告状态.
    await stack.worker.drain()
    await stack.fake.settle()
    resp, html = await get(client, location)
    assert resp.status == 200 and say("console_announce_sent", total=8) in html
    assert f"【银杏社区党委通知】{BODY}" in html
    line = STATUS.search(html)
    assert line is not None, html
    status = (await chat.send("公告状态")).text
    assert line.group(1) in status.split("\n\n")
    assert "郑国平（林晓梅未回复）" in line.group(1) and "等对方下次发消息时送达 1 人" in line.group(1)
    assert '<dd id="s-waiting">1</dd>' in html

    # The list: both notices, newest first, with how many each reached.
    resp, html = await get(client, "/console/announcements")
    assert resp.status == 200
    assert html.index("明天上午9点打扫楼道") < html.index(BODY)
    assert say("console_announce_total", total=2, page=1, pages=1) in html
    assert f'href="/console/announcements/{notice_id}"' in html and "周建国" in html


async def test_an_empty_or_too_long_text_goes_back_to_the_form(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make_client()
    await seed(services(client).db, bind=("YX-001", "YX-002"))
    await log_in(client, clock, "o-YX-001")
    html = await preview(client, "  \r\n ", COMMUNITY, status=400)
    assert say("console_announce_empty") in html and '<textarea id="text"' in html
    long = "请大家注意。" * 300
    html = await preview(client, long, BRANCH1, status=400)
    assert say("announce_too_long", length=len(long), limit=MAX_CHARS) in html
    assert f">{long}</textarea>" in html and f'<option value="{BRANCH1}" selected>' in html
    # The same refusal in chat.
    answer = (await WeChatUser(client, clock, "o-YX-001").send(f"公告 {long}")).text
    assert answer == say("announce_too_long", length=len(long), limit=MAX_CHARS)
    # Windows line ends are a browser's: the notice keeps plain ones.
    html = await preview(client, "第一行\r\n第二行", BRANCH1)
    resp, _ = await post(client, "/console/announcements/confirm", confirm_form(html))
    assert resp.status == 303
    (notice,) = await notices(client)
    assert notice.text == "【银杏社区党委通知】第一行\n第二行"
    # A preview whose text was changed before confirming is shown again, not sent.
    html = await preview(client, BODY, BRANCH1)
    resp, again = await post(client, "/console/announcements/confirm", confirm_form(html, text="别的内容"))
    assert resp.status == 200 and say("console_announce_again") in again and "别的内容" in again
    assert len(await notices(client)) == 1


async def make(make_client: AppFactory) -> TestClient[Any, Any]:
    client = await make_client()
    await seed(
        services(client).db,
        bind=("YX-001", "YX-002", "YX-003", "YX-004", "YX-007"),
        grid_worker="o-grid",
        admin="o-admin",
    )
    return client


PAGES = ("/console/announcements", "/console/announcements/new", "/console/announcements/1")


async def test_nobody_is_sent_to_the_login_page(make_client: AppFactory) -> None:
    client = await make(make_client)
    for path in PAGES:
        resp, _ = await get(client, path)
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login"), path
    resp, html = await get(client, "/console/login")
    for path in ("/console/announcements/preview", "/console/announcements/confirm"):
        data = {"_csrf": csrf_of(html), "text": BODY, "unit": COMMUNITY, "audience": "all"}
        resp, _ = await post(client, path, data)
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login"), path
        resp, _ = await post(client, path, {"text": BODY, "unit": COMMUNITY})
        assert resp.status == 403  # no CSRF token
    assert await notices(client) == []


async def test_who_may_announce_in_the_console(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    # 周建国 sends to 第二网格党支部 through the console.
    await log_in(client, clock, "o-YX-001")
    html = await preview(client, BODY, BRANCH2)
    resp, _ = await post(client, "/console/announcements/confirm", confirm_form(html))
    assert resp.status == 303
    to_branch2 = int(resp.headers["Location"].split("/")[-1].split("?")[0])
    await client.post("/console/logout", data={"_csrf": csrf_of(html)})

    # A committee member and a grid worker: no announcements at all.
    for openid in ("o-YX-007", "o-grid"):
        client.session.cookie_jar.clear()
        await log_in(client, clock, openid)
        resp, html = await get(client, "/console/")
        assert 'href="/console/announcements"' not in html
        for path in (*PAGES, f"/console/announcements/{to_branch2}"):
            resp, html = await get(client, path)
            assert resp.status == 403 and say("console_forbidden") in html, (openid, path)
        data = {"_csrf": csrf_of(html), "text": BODY, "unit": BRANCH1, "audience": "all", "token": "x"}
        for path in ("/console/announcements/preview", "/console/announcements/confirm"):
            resp, _ = await post(client, path, data)
            assert resp.status == 403, (openid, path)

    # 林晓梅, 第一网格党支部书记: her branch and its group; another branch's unit or above is refused.
    client.session.cookie_jar.clear()
    await log_in(client, clock, "o-YX-002")
    resp, html = await get(client, "/console/")
    assert 'href="/console/announcements"' in html
    resp, html = await get(client, "/console/announcements/new")
    assert re.findall(r'<option value="([^"]*)"', html) == [BRANCH1, GROUP1]
    token = csrf_of(html)
    for unit in (BRANCH2, COMMUNITY, "", "青禾街道党工委"):
        data = {"_csrf": token, "text": BODY, "unit": unit, "audience": "all"}
        resp, html = await post(client, "/console/announcements/preview", data)
        assert resp.status == 403 and say("console_forbidden") in html, unit
        resp, _ = await post(client, "/console/announcements/confirm", {**data, "token": "x"})
        assert resp.status == 403, unit
    data = {"_csrf": token, "text": BODY, "unit": BRANCH1 + "/9号楼党小组", "audience": "all"}
    resp, _ = await post(client, "/console/announcements/preview", data)
    assert resp.status == 404
    resp, _ = await post(client, "/console/announcements/preview", {**data, "unit": BRANCH1, "audience": "x"})
    assert resp.status == 404
    for path in ("/console/announcements/preview", "/console/announcements/confirm"):
        resp, html = await post(client, path, {"text": BODY, "unit": BRANCH1, "audience": "all"})
        assert resp.status == 403 and say("console_csrf") in html  # no CSRF token
    html = await preview(client, BODY, BRANCH1)
    assert "将发送给：第一网格党支部，共 5 人（含您本人，不另发给您；" in html
    # Another branch's notice is not in her list, and not found when asked for.
    resp, html = await get(client, "/console/announcements")
    assert resp.status == 200 and say("console_announce_none") in html
    viewed = len(await audits(client, "view_announcement"))
    resp, html = await get(client, f"/console/announcements/{to_branch2}")
    assert resp.status == 404 and say("console_not_found") in html and BODY not in html
    assert len(await audits(client, "view_announcement")) == viewed  # a refusal reads nothing
    resp, _ = await get(client, "/console/announcements/9999")
    assert resp.status == 404

    # 陈志强 (第二网格党支部书记) and the administrator see it.
    for openid in ("o-YX-003", "o-admin"):
        client.session.cookie_jar.clear()
        await log_in(client, clock, openid)
        resp, html = await get(client, f"/console/announcements/{to_branch2}")
        assert resp.status == 200 and f"【银杏社区党委通知】{BODY}" in html, openid
        entry = (await audits(client, "view_announcement"))[-1]
        assert (entry.detail["notice"], entry.detail["via"]) == (to_branch2, "console"), openid
        resp, html = await get(client, "/console/announcements")
        assert f'href="/console/announcements/{to_branch2}"' in html, openid
    # The administrator may send to everyone: the community's name heads the notice.
    resp, html = await get(client, "/console/announcements/new")
    assert re.findall(r'<option value="([^"]*)"', html)[0] == ""
    html = await preview(client, BODY, "")
    assert "将发送给：银杏社区，共 9 人（其中 " in html


async def test_the_list_downloads_as_xlsx_and_is_audited(make_client: AppFactory, clock: FixedClock) -> None:
    from openpyxl import load_workbook

    client = await make(make_client)
    await log_in(client, clock, "o-YX-001")
    for text, unit in ((BODY, COMMUNITY), ("周五下午学习。", BRANCH1)):
        html = await preview(client, text, unit)
        resp, _ = await post(client, "/console/announcements/confirm", confirm_form(html))
        assert resp.status == 303
    resp, html = await get(client, "/console/announcements")
    assert 'href="/console/announcements?format=xlsx"' in html
    assert await audits(client, "export_announcements") == []
    resp = await client.get("/console/announcements?format=xlsx")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == [
        say("console_announce_col_when"),
        say("console_announce_col_sender"),
        say("console_announce_col_audience"),
        say("console_announce_col_text"),
        say("console_announce_col_total"),
        say("console_announce_col_reached"),
    ]
    assert [row[1:] for row in cells[1:]] == [
        ["周建国", "第一网格党支部", "【银杏社区党委通知】周五下午学习。", 5, 0],
        ["周建国", "银杏社区党委", f"【银杏社区党委通知】{BODY}", 8, 0],
    ]
    (entry,) = await audits(client, "export_announcements")
    assert (entry.actor, entry.scope, entry.detail["rows"]) == ("member:YX-001", COMMUNITY, 2)
    assert entry.detail["via"] == "console"


async def test_compose_preview_confirm_in_a_browser(
    make_client: AppFactory,
    clock: FixedClock,
    tmp_path: Path,
    chromium: str,
) -> None:
    from playwright.async_api import async_playwright

    client = await make_client()
    await seed(services(client).db, bind=("YX-001", "YX-002", "YX-004"))
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
            page.on(
                "response",
                lambda r: (
                    errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )

            await page.goto(f"{base}/console/login")
            command = (await page.inner_text("#code-command")).strip()
            await WeChatUser(client, clock, openid="o-YX-001").send(command)
            await page.wait_for_url(f"{base}/console/", timeout=15_000)

            await page.click(f"text={say('console_nav_announcements')}")
            await page.wait_for_url(f"{base}/console/announcements")
            await page.click("#new-announcement")
            await page.wait_for_url(f"{base}/console/announcements/new")
            await page.fill("#text", BODY)
            await page.select_option("#unit", BRANCH1)
            await page.check("#audience-all")
            await page.screenshot(path=str(shots / "announce-compose.png"), full_page=True)
            await page.click("#preview")
            await page.wait_for_url(f"{base}/console/announcements/preview")
            summary = await page.inner_text("#summary")
            assert summary.startswith(
                "将发送给：第一网格党支部，共 5 人（其中 1 人同时收到语音；3 人未绑定微信"
            )
            assert await page.inner_text("#full-text") == f"【银杏社区党委通知】{BODY}"
            await page.screenshot(path=str(shots / "announce-preview.png"), full_page=True)

            # A phone: the preview, then 修改 back to the form (the text kept), then on.
            await page.set_viewport_size({"width": 390, "height": 844})
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0
            await page.screenshot(path=str(shots / "announce-preview-phone.png"), full_page=True)
            await page.click("#edit")
            assert await page.input_value("#text") == BODY
            assert await page.input_value("#unit") == BRANCH1
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0
            await page.screenshot(path=str(shots / "announce-compose-phone.png"), full_page=True)
            await page.click("#preview")
            await page.dblclick("#confirm")  # a double click sends once
            await page.wait_for_url(re.compile(r".*/console/announcements/\d+(\?sent=1)?$"))
            assert BODY in await page.inner_text("#notice-text")
            assert "《本周六上午9点在社区党群…》" in await page.inner_text("#status-line")
            await page.screenshot(path=str(shots / "announce-status-phone.png"), full_page=True)
            await page.set_viewport_size({"width": 1366, "height": 768})
            await page.click(f"text={say('console_announce_back')}")
            assert BODY in await page.inner_text("#announcements")
            await page.screenshot(path=str(shots / "announce-list.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()
    assert len(await notices(client)) == 1
    assert {p.name for p in shots.iterdir()} >= {
        "announce-compose.png",
        "announce-preview.png",
        "announce-compose-phone.png",
        "announce-preview-phone.png",
        "announce-status-phone.png",
    }


async def test_the_list_is_paged_newest_first(make_client: AppFactory, clock: FixedClock) -> None:
    from bot.outbound.notices import Audience, enqueue_announcement

    client = await make(make_client)
    db = services(client).db
    for i in range(51):
        clock.advance(60)
        await enqueue_announcement(
            db,
            clock.now(),
            text=f"【第一网格党支部通知】第{i}号通知",
            audience=Audience(BRANCH1),
            label="第一网格党支部",
            author="cli:root",
            author_openid=None,
            recipients=[],
        )
    await log_in(client, clock, "o-YX-002")
    resp, html = await get(client, "/console/announcements")
    assert resp.status == 200 and say("console_announce_total", total=51, page=1, pages=2) in html
    assert html.count('<tr>\n      <td><a href="/console/announcements/') == 50
    assert "第50号通知" in html and "第0号通知<" not in html and say("console_announce_sender_cli") in html
    assert 'href="/console/announcements?page=2"' in html
    resp, html = await get(client, "/console/announcements?page=2")
    assert "第0号通知" in html and "第1号通知" not in html
