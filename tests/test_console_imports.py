"""The console's 数据导入 page (bot/console/import_pages.py): administrators only; a file uploaded is checked
by the same dry run as `partybot members import --dry-run` (row numbers, columns, the Chinese messages of
content/import.yaml), kept on the server under a token in the session, and written only when confirmed (or,
with errors, only the valid rows); bad files say why and write nothing; uploads over 2MB are refused (413).
And in a browser: the administrator uploads a roster with a bad row, sees its row number, then a good file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.console.import_pages import upload_root
from bot.content import load_content
from bot.domain import console
from bot.domain.importing import import_org, message
from models import Member, OrgUnit
from tests.browser import DESKTOP, artifacts, launch_args, watch
from tests.community import seed
from tests.conftest import AppFactory
from tests.console import csrf_of, get, log_in, login_page, post
from tests.helpers import services

TEXTS = load_content()
DATA = Path(__file__).parent / "data"


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


async def make(make_client: AppFactory) -> TestClient[Any, Any]:
    client = await make_client()
    await seed(
        services(client).db,
        bind=("YX-001", "YX-002", "YX-003", "YX-004", "YX-007"),
        grid_worker="o-grid",
        admin="o-admin",
    )
    return client


async def members(client: TestClient[Any, Any], number: str | None = None) -> int:
    async with services(client).db.read() as session:
        query = select(func.count()).select_from(Member)
        if number is not None:
            query = query.where(Member.number == number)
        return int(await session.scalar(query) or 0)


async def upload(
    client: TestClient[Any, Any], kind: str, name: str, data: bytes, token: str | None = None
) -> aiohttp.ClientResponse:
    if token is None:
        token = csrf_of((await get(client, "/console/imports"))[1])
    form = aiohttp.FormData()
    form.add_field("_csrf", token)
    form.add_field("kind", kind)
    form.add_field("file", io.BytesIO(data), filename=name, content_type="text/csv")
    return await client.post("/console/imports/check", data=form, allow_redirects=False)


async def test_nobody_and_every_role_but_the_admin_are_refused(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    for path in ("/console/imports", "/console/imports?upload=x"):
        resp, _ = await get(client, path)
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login")
    token = csrf_of(await login_page(client))
    resp, _ = await post(client, "/console/imports/confirm", {"_csrf": token, "token": "x"})
    assert (resp.status, resp.headers.get("Location")) == (302, "/console/login")
    for openid in ("o-YX-001", "o-YX-002", "o-YX-007", "o-grid"):
        await log_in(client, clock, openid)
        resp, html = await get(client, "/console/imports")
        assert resp.status == 403 and say("console_forbidden") in html, openid
        assert 'href="/console/imports"' not in html  # not in their menu
        resp = await upload(
            client, "members", "roster.csv", (DATA / "roster-sample.csv").read_bytes(), csrf_of(html)
        )
        assert resp.status == 403, openid
        resp, _ = await post(client, "/console/imports/confirm", {"_csrf": csrf_of(html), "token": "x" * 32})
        assert resp.status == 403
        resp, _ = await post(client, "/console/logout", {"_csrf": csrf_of(html)})
    assert await members(client, "YX-101") == 0


async def test_a_roster_with_bad_rows_is_reported_by_row_and_written_only_when_asked(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-admin")
    resp, html = await get(client, "/console/imports")
    assert resp.status == 200 and say("console_imports_heading") in html
    before = await members(client)
    bad = (DATA / "roster-bad.csv").read_bytes()

    # CSRF: an upload without the token is refused and nothing is kept.
    form = aiohttp.FormData()
    form.add_field("kind", "members")
    form.add_field("file", bad, filename="roster-bad.csv")
    resp = await client.post("/console/imports/check", data=form, allow_redirects=False)
    assert resp.status == 403 and say("console_csrf") in await resp.text()

    resp = await upload(client, "members", "名册-有错.csv", bad)
    assert resp.status == 303
    where = resp.headers["Location"]
    assert where.startswith("/console/imports?upload=")
    resp, html = await get(client, where)
    assert resp.status == 200
    # The CLI's report: its title with the file's name, and every error with its row and column.
    assert (
        message("report.title_dry_run", kind=message("kinds.members"), file="名册-有错.csv", rows=19) in html
    )
    assert "第 3 行 手机" in html  # YX-102's phone has 10 digits
    assert '<table id="import-errors">' in html and "<td>3</td>" in html
    assert 'id="import-confirm"' not in html and 'id="import-load-valid"' in html
    assert await members(client) == before  # a dry run writes nothing
    token = where.split("=", 1)[1]
    assert (upload_root() / token).is_dir()  # kept on the server between the check and the confirmation

    # A token that is not this session's is not found.
    resp, html = await post(client, "/console/imports/confirm", {"_csrf": csrf_of(html), "token": "A" * 32})
    assert resp.status == 400 and say("console_upload_expired") in html
    assert await members(client) == before

    resp, html = await post(
        client, "/console/imports/confirm", {"_csrf": csrf_of(html), "token": token, "load_valid": "1"}
    )
    assert resp.status == 303
    resp, html = await get(client, resp.headers["Location"])
    assert resp.status == 200 and 'id="import-done"' in html
    assert await members(client, "YX-101") == 1 and await members(client, "YX-102") == 0
    assert not (upload_root() / token).exists()  # removed after the confirmation
    # The same token cannot be confirmed twice.
    resp, html = await post(client, "/console/imports/confirm", {"_csrf": csrf_of(html), "token": token})
    assert resp.status == 400 and say("console_upload_expired") in html


async def test_a_good_file_is_confirmed_and_bad_files_say_why(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-admin")
    resp = await upload(client, "org", "org.csv", (DATA / "org-sample.csv").read_bytes())
    assert resp.status == 303
    resp, html = await get(client, resp.headers["Location"])
    assert 'id="import-confirm"' in html and 'id="import-errors"' not in html
    token = resp.url.query["upload"]
    resp, html = await post(client, "/console/imports/confirm", {"_csrf": csrf_of(html), "token": token})
    resp, html = await get(client, resp.headers["Location"])
    async with services(client).db.read() as session:
        units = int(await session.scalar(select(func.count()).select_from(OrgUnit)) or 0)
    assert units == 9  # the sample tree has nine units, five were seeded
    assert 'id="import-summary"' in html

    before = await members(client)
    for name, data, key in (
        ("名册.pdf", b"%PDF-1.4", "console_upload_bad_type"),
        ("名册.csv", b"  \n", "console_upload_empty"),
    ):
        resp = await upload(client, "members", name, data)
        assert resp.status == 400 and say(key) in await resp.text(), name
    resp = await upload(client, "members", "名册.csv", "甲,乙\n1,2\n".encode())
    text = await resp.text()
    assert resp.status == 400 and 'id="import-error"' in text  # the importer's own message: no known header
    resp = await upload(client, "bogus", "名册.csv", (DATA / "roster-sample.csv").read_bytes())
    assert resp.status == 400 and say("console_imports_no_kind") in await resp.text()
    big = b"\xe7\xbc\x96\xe5\x8f\xb7\n" + b"x" * (2 * 1024 * 1024 + 10)
    resp = await upload(client, "members", "大.csv", big)
    assert resp.status == 413 and say("console_upload_too_large") in await resp.text()
    assert await members(client) == before


async def test_an_upload_expires_after_30_minutes(make_client: AppFactory, clock: FixedClock) -> None:
    client = await make(make_client)
    await log_in(client, clock, "o-admin")
    resp = await upload(client, "members", "roster.csv", (DATA / "roster-sample.csv").read_bytes())
    where = resp.headers["Location"]
    clock.advance(20 * 60)
    resp, html = await get(client, where)
    assert resp.status == 200 and 'id="import-report"' in html
    clock.advance(11 * 60)  # 31 minutes after the upload, 11 after the last page
    resp, html = await get(client, where)
    assert resp.status == 200 and say("console_upload_expired") in html
    assert not (upload_root() / where.split("=", 1)[1]).exists()


async def test_in_a_browser_a_bad_roster_shows_its_row_then_a_good_one_is_imported(
    make_client: AppFactory,
    clock: FixedClock,
    tmp_path: Path,
    chromium: str,
) -> None:
    from playwright.async_api import async_playwright

    client = await make(make_client)
    now = clock.now()
    await services(client).db.run(lambda s: console.set_password(s, "管理员", "correct horse battery", now))
    await import_org(services(client).db, DATA / "org-sample.csv", now=now)  # the roster's units
    base = str(client.make_url("")).rstrip("/")
    shots = artifacts(tmp_path)
    bad = tmp_path / "名册-有错.csv"
    bad.write_bytes((DATA / "roster-bad.csv").read_bytes())
    good = tmp_path / "名册.csv"
    good.write_bytes((DATA / "roster-sample.csv").read_bytes())
    args = launch_args()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True, args=args)
        try:
            context = await browser.new_context(**DESKTOP)
            page = await context.new_page()
            errors: list[str] = []
            watch(page, errors)
            await page.goto(f"{base}/console/login")
            await page.fill("#name", "管理员")
            await page.fill("#password", "correct horse battery")
            await page.click(f"button:has-text('{say('console_password_submit')}')")
            await page.wait_for_url(f"{base}/console/")
            await page.click(f"text={say('console_nav_imports')}")
            await page.wait_for_url(f"{base}/console/imports")
            await page.check("#kind-members")
            await page.set_input_files("#import-file", str(bad))
            await page.click("#import-check")
            await page.wait_for_selector("#import-errors")
            table = await page.inner_text("#import-errors")
            assert "3\t手机" in table or "3 手机" in table, table  # row 3: YX-102's phone
            summary = await page.inner_text("#import-summary")
            assert summary == message("report.blocked_dry_run", count=17)
            await page.screenshot(path=str(shots / "import-bad-roster.png"), full_page=True)
            assert await members(client, "YX-101") == 0  # the dry run wrote nothing

            await page.check("#kind-members")
            await page.set_input_files("#import-file", str(good))
            await page.click("#import-check")
            await page.wait_for_selector("#import-confirm")
            assert await page.is_hidden("#import-errors")
            await page.screenshot(path=str(shots / "import-good-roster.png"), full_page=True)
            await page.click("#import-confirm")
            await page.wait_for_selector("#import-done")
            done = await page.inner_text("#import-summary")
            counts = {"added": 9, "updated": 9, "reactivated": 0, "deactivated": 0, "unchanged": 0}
            assert done == message("report.done", **counts, missing=0, skipped=0)
            await page.screenshot(path=str(shots / "import-done.png"), full_page=True)

            # The dues page and the audit log of the same console, looked at once (screenshots).
            await page.goto(f"{base}/console/dues")
            assert "高淑芬" in await page.inner_text("#ledger")  # imported just now
            await page.screenshot(path=str(shots / "dues.png"), full_page=True)
            await page.goto(f"{base}/console/audit")
            await page.screenshot(path=str(shots / "audit.png"), full_page=True)

            await page.set_viewport_size({"width": 375, "height": 740})
            for path in ("imports", "dues", "audit"):
                await page.goto(f"{base}/console/{path}")
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, path
            await page.goto(f"{base}/console/dues")
            await page.screenshot(path=str(shots / "dues-phone.png"), full_page=True)
            await page.goto(f"{base}/console/imports")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0
            await page.screenshot(path=str(shots / "imports-phone.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()
    assert await members(client) == 18  # the nine seeded and the sample's others
