"""The console's 居民诉求: the board by state (overdue first, the same scope as chat's 待办), one ticket with
its history, and 接单 → 进展 → 办结 through the console telling the resident exactly what chat tells them;
电话 for whoever took it (audited, shown once), 转派, 复杂; each role's board and the refusals (403, 404
outside their scope, CSRF); the audited opening and XLSX export; a stored photo served to the ticket's
handlers only; and a grid worker taking and closing a request in a real browser."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.content import load_content
from models import Admin, AuditEntry, Notice, OutboxRow, RequestPhoto, RequestTicket
from models.db import Database
from tests.browser import DESKTOP, artifacts, launch_args, watch
from tests.community import BRANCH1, BRANCH2, seed
from tests.conftest import T0, AppFactory
from tests.console import csrf_of, get, log_in, post
from tests.helpers import services
from tests.request_seed import GRID2, two_grids
from tests.wechat import WeChatUser

TEXTS = load_content()
NUMBER = re.compile(r"R\d{8}-\d{4}")
RESIDENT, RESIDENT2 = "o-res-1", "o-res-2"


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


async def _community(db: Database) -> None:
    """tests.community with the first grid covering 1–3号楼 and the second 5–6号楼 (as
    tests/test_requests_chat.py), its grid workers 韩磊 (o-grid) and 赵敏 (o-grid-2)."""
    await seed(db, bind=("YX-001", "YX-002", "YX-003", "YX-007"), grid_worker="o-grid", admin="o-admin")
    await db.run(two_grids)


async def make(make_client: AppFactory, **settings: Any) -> TestClient[Any, Any]:
    client = await make_client(**settings)
    await _community(services(client).db)
    return client


async def report(client: TestClient[Any, Any], clock: FixedClock, openid: str, text: str, phone: str) -> str:
    """A resident's 反映 through chat; the ticket number."""
    resident = WeChatUser(client, clock, openid=openid)
    filed = (await resident.send(f"反映 {text}")).text
    found = NUMBER.search(filed)
    assert found is not None, filed
    await resident.send(phone or "跳过")
    return found.group(0)


async def two_tickets(client: TestClient[Any, Any], clock: FixedClock) -> tuple[str, str]:
    first = await report(client, clock, RESIDENT, "3号楼2单元楼道灯坏了", "13812345678")
    second = await report(client, clock, RESIDENT2, "5号楼门口的路灯不亮了", "")
    return first, second


async def told(client: TestClient[Any, Any], openid: str) -> list[str]:
    async with services(client).db.read() as session:
        rows = await session.scalars(
            select(Notice.text)
            .join(OutboxRow, OutboxRow.notice_id == Notice.id)
            .where(OutboxRow.openid == openid)
            .order_by(Notice.id)
        )
        return list(rows.all())


async def audits(client: TestClient[Any, Any], action: str) -> list[AuditEntry]:
    async with services(client).db.read() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def ticket(client: TestClient[Any, Any], number: str) -> RequestTicket:
    async with services(client).db.read() as session:
        row = await session.scalar(select(RequestTicket).where(RequestTicket.number == number))
    assert row is not None
    return row


async def act(client: TestClient[Any, Any], number: str, verb: str, **fields: str) -> str:
    """A POST of the ticket page's form; the page it leads to (PRG)."""
    _, html = await get(client, f"/console/requests/{number}")
    resp, _ = await post(client, f"/console/requests/{number}/{verb}", {"_csrf": csrf_of(html), **fields})
    assert resp.status == 303, (verb, resp.status)
    resp, html = await get(client, resp.headers["Location"])
    assert resp.status == 200
    return html


# --- nobody, CSRF --------------------------------------------------------------------------------------


async def test_nobody_is_sent_to_the_login_page(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    number, _ = await two_tickets(client, clock)
    for path in ("/console/requests", f"/console/requests/{number}", f"/console/requests/{number}/photos/1"):
        resp, _ = await get(client, path)
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login"), path
    resp, _ = await post(client, f"/console/requests/{number}/take", {"_csrf": "x"})
    assert resp.status in (302, 403)
    assert (await ticket(client, number)).state == "new"


async def test_a_post_without_the_token_is_refused(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    number, _ = await two_tickets(client, clock)
    await log_in(client, clock, "o-grid")
    for verb in ("take", "phone", "solve"):
        resp, html = await post(client, f"/console/requests/{number}/{verb}", {"note": "已修好"})
        assert resp.status == 403 and say("console_csrf") in html
        resp, html = await post(
            client, f"/console/requests/{number}/{verb}", {"_csrf": "forged", "note": "x"}
        )
        assert resp.status == 403
    assert (await ticket(client, number)).state == "new"
    assert await audits(client, "request_reporter_phone") == []


# --- the loop, as in chat ------------------------------------------------------------------------------


async def test_a_grid_worker_takes_progresses_and_closes_and_the_resident_is_told(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    number, other = await two_tickets(client, clock)
    clock.advance(30 * 60)
    await log_in(client, clock, "o-grid")  # 韩磊, 第一网格

    resp, html = await get(client, "/console/requests")
    assert resp.status == 200 and 'href="/console/requests"' in html  # the menu
    assert number in html and other not in html  # the second grid's ticket is not theirs
    assert "138****5678" not in html and "13812345678" not in html  # no phones on the board
    resp, html = await get(client, f"/console/requests/{other}")
    assert resp.status == 404 and say("console_not_found") in html
    resp, _ = await post(client, f"/console/requests/{other}/take", {"_csrf": csrf_of(html)})
    assert resp.status == 404 and (await ticket(client, other)).state == "new"

    resp, html = await get(client, f"/console/requests/{number}")
    assert resp.status == 200
    assert say("console_requests_ticket_heading", number=number, category="物业维修", state="待接单") in html
    assert "3号楼2单元楼道灯坏了" in html and "138****5678" in html and "13812345678" not in html
    assert TEXTS.texts["req_event_kinds"]["filed"] in html
    assert 'id="take"' in html and 'id="show-phone"' not in html  # the phone is for whoever took it
    opened = await audits(client, "view_request")
    assert [(e.scope, e.detail["number"], e.detail["via"]) for e in opened] == [(BRANCH1, number, "console")]

    before = len(await told(client, RESIDENT))
    html = await act(client, number, "take")
    assert say("console_requests_done_take") in html and "【办理中】" in html
    notices = await told(client, RESIDENT)
    assert notices[before:] == [say("request_notice_taken", number=number, who="网格员 韩")]
    html = await act(client, number, "take")  # again: the chat's refusal
    assert say("req_refused_state", number=number, verb="接单") in html

    _, html = await get(client, f"/console/requests/{number}")
    resp, _ = await post(client, f"/console/requests/{number}/phone", {"_csrf": csrf_of(html)})
    assert resp.status == 303
    resp, html = await get(client, resp.headers["Location"])
    assert say("req_phone_shown", number=number, phone="13812345678") in html
    assert [e.scope for e in await audits(client, "request_reporter_phone")] == [BRANCH1]
    resp, html = await get(client, f"/console/requests/{number}?phone=1")
    assert "13812345678" not in html  # shown once

    html = await act(client, number, "progress", note="")  # a note is needed, as in chat
    assert say("console_requests_missing_progress") in html
    html = await act(client, number, "progress", note="已联系物业，明天上午更换灯泡")
    assert say("console_requests_done_progress") in html and "已联系物业，明天上午更换灯泡" in html
    assert (await told(client, RESIDENT))[-1] == say(
        "request_notice_progress", number=number, note="已联系物业，明天上午更换灯泡", who="网格员 韩"
    )
    html = await act(client, number, "solve", note="已更换楼道灯")
    assert say("console_requests_done_solve") in html and "【待评价】" in html
    assert (await told(client, RESIDENT))[-1] == say(
        "request_notice_rate", number=number, note="已更换楼道灯"
    )
    assert 'id="take"' not in html and 'id="solve"' not in html
    row = await ticket(client, number)
    assert (row.state, row.taken_by_name) == ("solved", "韩磊")

    # The resident rates in chat, as after chat's 办结.
    rated = (await WeChatUser(client, clock, openid=RESIDENT).send("1")).text
    assert "满意" in rated and (await ticket(client, number)).state == "closed"
    resp, html = await get(client, "/console/requests?state=closed")
    assert resp.status == 200 and number in html


async def test_transfer_and_complex_as_in_chat(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    number, _ = await two_tickets(client, clock)
    await log_in(client, clock, "o-admin")
    html = await act(client, number, "complex")
    assert say("console_requests_done_complex") in html and say("console_requests_complex") in html
    assert (await ticket(client, number)).complex
    html = await act(client, number, "transfer", unit="")
    assert say("console_requests_missing_transfer") in html
    html = await act(client, number, "transfer", unit="没有这个组织")
    assert say("req_refused_unknown_unit", number=number, unit="没有这个组织") in html
    before = len(await told(client, GRID2))
    html = await act(client, number, "transfer", unit=BRANCH2, note="楼栋不在本网格")
    assert say("console_requests_done_transfer", unit="第二网格党支部") in html
    row = await ticket(client, number)
    assert (row.state, row.taken_by_openid) == ("new", None)  # waits to be taken there
    assert "第二网格党支部 楼栋不在本网格" in html  # the history's note, as chat writes it
    assert len(await told(client, GRID2)) == before + 1  # the new owner's grid worker is told
    resp, _ = await post(client, "/console/logout", {"_csrf": csrf_of(html)})
    await log_in(client, clock, "o-grid")
    resp, _ = await get(client, f"/console/requests/{number}")
    assert resp.status == 404  # no longer the first grid's


# --- each role's board ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("openid", "first", "second"),
    [
        ("o-YX-001", True, True),  # the community's secretary
        ("o-YX-002", True, False),  # 第一网格党支部's secretary
        ("o-YX-003", False, True),  # 第二网格党支部's
        ("o-YX-007", True, False),  # a 委员 of the first branch
        ("o-grid-2", False, True),  # the second grid's worker
        ("o-admin", True, True),
    ],
)
async def test_each_role_sees_their_scope(
    make_client: AppFactory, clock: FixedClock, openid: str, first: bool, second: bool
) -> None:
    client = await make(make_client)
    numbers = await two_tickets(client, clock)
    await log_in(client, clock, openid)
    resp, html = await get(client, "/console/requests")
    assert resp.status == 200
    for number, visible in zip(numbers, (first, second), strict=True):
        assert (number in html) == visible, (openid, number)
        resp, _ = await get(client, f"/console/requests/{number}")
        assert resp.status == (200 if visible else 404), (openid, number)
    assert len(await audits(client, "view_request")) == first + second  # refusals read nothing


async def test_a_member_without_a_post_is_refused(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make_client()
    await seed(services(client).db, bind=("YX-004",))
    resp, _ = await get(client, "/console/login")
    assert resp.status == 200
    # A plain member may not log in to the console at all; the board refuses anyone without a handler's
    # scope, which a grid worker's missing grid would be.
    from tests.console import code_of

    code = code_of(await resp.text())
    answer = await WeChatUser(client, clock, openid="o-YX-004").send(f"登录 {code}")
    assert answer.text == say("console_login_refused")
    resp, _ = await get(client, "/console/requests")
    assert resp.status == 302


async def test_an_administrator_by_password_reads_but_does_not_act(
    make_client: AppFactory, clock: FixedClock
) -> None:
    from bot.domain import console

    client = await make(make_client)
    number, other = await two_tickets(client, clock)
    now = clock.now()

    def add(session: Session) -> None:  # an administrator with no WeChat
        session.add(Admin(name="街道管理员", openid=None, created_at=now))
        session.flush()
        console.set_password(session, "街道管理员", "correct horse battery", now)

    await services(client).db.run(add)
    _, html = await get(client, "/console/login")
    resp, _ = await post(
        client,
        "/console/login/password",
        {"_csrf": csrf_of(html), "name": "街道管理员", "password": "correct horse battery"},
    )
    assert resp.status == 302
    resp, html = await get(client, "/console/requests")
    assert resp.status == 200 and number in html and other in html
    resp, html = await get(client, f"/console/requests/{number}")
    assert resp.status == 200 and say("console_requests_read_only") in html and 'id="take"' not in html
    resp, _ = await post(client, f"/console/requests/{number}/take", {"_csrf": csrf_of(html)})
    assert resp.status == 403 and (await ticket(client, number)).state == "new"


# --- the board's order, filters, paging, export --------------------------------------------------------


async def test_overdue_first_and_the_filters(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    older = await report(client, clock, RESIDENT, "3号楼2单元楼道灯坏了", "")
    clock.advance(60)
    urgent = await report(client, clock, RESIDENT2, "2号楼1单元有煤气味，很危险", "")
    clock.advance(3 * 3600)  # the urgent one (2 hours to take) is overdue, the older one (24 hours) not
    await log_in(client, clock, "o-grid")
    resp, html = await get(client, "/console/requests")
    assert resp.status == 200
    column = html[html.index('id="state-new"') : html.index('id="state-taken"')]
    assert column.index(urgent) < column.index(older)  # overdue first, though filed later
    assert say("console_requests_overdue") in column
    resp, html = await get(client, "/console/requests?state=taken")
    assert resp.status == 200 and older not in html and 'id="state-new"' not in html
    category = (await ticket(client, older)).category
    resp, html = await get(client, f"/console/requests?category={quote(category)}")
    assert older in html
    for bad in ("?state=nonsense", "?category=%E6%B2%A1%E6%9C%89"):
        resp, _ = await get(client, f"/console/requests{bad}")
        assert resp.status == 404, bad
    resp, html = await get(client, "/console/requests?page=abc")
    assert resp.status == 200 and older in html


async def test_the_export_is_audited_and_has_no_phones(make_client: AppFactory, clock: FixedClock) -> None:
    from openpyxl import load_workbook

    client = await make(make_client)
    number, other = await two_tickets(client, clock)
    await log_in(client, clock, "o-YX-002")
    resp = await client.get("/console/requests?format=xlsx")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    cells = [[str(c or "") for c in row] for row in sheet.iter_rows(values_only=True)]
    assert cells[0][0] == say("console_requests_col_number")
    assert [row[0] for row in cells[1:]] == [number]  # their branch's only
    flat = " ".join(" ".join(row) for row in cells)
    assert "5678" not in flat and other not in flat
    entries = await audits(client, "export_requests")
    assert [(e.scope, e.detail["rows"], e.detail["via"]) for e in entries] == [(BRANCH1, 1, "console")]


async def test_a_stored_photo_is_served_to_the_handlers_only(
    make_client: AppFactory, clock: FixedClock, tmp_path: Path
) -> None:
    client = await make(make_client, data_dir=tmp_path)
    number, other = await two_tickets(client, clock)
    jpeg = b"\xff\xd8\xff\xe0 not really a photo"

    def store(session: Session) -> None:
        for n, (no, status) in enumerate(((number, "stored"), (number, "pending"), (other, "stored")), 1):
            row = session.scalars(select(RequestTicket).where(RequestTicket.number == no)).one()
            path = f"requests/{row.id}/{n}.jpg" if status == "stored" else None
            if path:
                (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / path).write_bytes(jpeg)
            session.add(
                RequestPhoto(
                    ticket_id=row.id, seq=n, media_id=f"m{n}", path=path, status=status, created_at=T0
                )
            )

    await services(client).db.run(store)
    await log_in(client, clock, "o-grid")
    resp, html = await get(client, f"/console/requests/{number}")
    assert f'src="/console/requests/{number}/photos/1"' in html
    assert say("console_requests_photos_unstored", count=1) in html
    resp = await client.get(f"/console/requests/{number}/photos/1")
    assert resp.status == 200 and await resp.read() == jpeg
    for path in (f"{number}/photos/2", f"{number}/photos/x", f"{other}/photos/3"):
        resp = await client.get(f"/console/requests/{path}", allow_redirects=False)
        assert resp.status == 404, path


# --- in a browser ------------------------------------------------------------------------------------


async def test_a_grid_worker_takes_and_closes_a_request_in_a_browser(
    make_client: AppFactory,
    clock: FixedClock,
    tmp_path: Path,
    chromium: str,
) -> None:
    from playwright.async_api import async_playwright

    client = await make(make_client)
    number, _ = await two_tickets(client, clock)
    clock.advance(3600)
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
            command = (await page.inner_text("#code-command")).strip()
            await WeChatUser(client, clock, openid="o-grid").send(command)
            await page.wait_for_url(f"{base}/console/", timeout=15_000)

            await page.click(f"nav >> text={say('console_nav_requests')}")
            await page.wait_for_url(f"{base}/console/requests")
            assert number in await page.inner_text("#state-new")
            await page.screenshot(path=str(shots / "requests-board.png"), full_page=True)
            await page.click(f"text={number}")
            await page.wait_for_url(f"{base}/console/requests/{number}")
            await page.click("#take")
            assert say("console_requests_done_take") in await page.inner_text("#result")
            await page.fill("#solve-note", "已更换楼道灯")
            await page.click("#solve")
            assert say("console_requests_done_solve") in await page.inner_text("#result")
            assert "已更换楼道灯" in await page.inner_text("#history")
            await page.screenshot(path=str(shots / "request-ticket.png"), full_page=True)

            await page.set_viewport_size({"width": 375, "height": 740})
            for name, path in (("requests-board-phone", "/console/requests"), ("request-ticket-phone", "")):
                await page.goto(f"{base}{path or f'/console/requests/{number}'}")
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, name
                await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()
    assert (await ticket(client, number)).state == "solved"
    assert (await told(client, RESIDENT))[-1] == say(
        "request_notice_rate", number=number, note="已更换楼道灯"
    )
