"""The console's 党费 page (bot/console/dues_pages.py): a secretary's subtree only (a branch secretary never
sees the other branch: 404), an administrator everything, committee members and grid workers refused (403);
a payment recorded by the form is the chat's 收党费 (its words, its refusals) and shows in the month's ledger;
pending 已交 claims confirmed or returned; the ledger downloads as `partybot dues report --xlsx` does, audited
the same way; a bank statement with a bad row is reported by row number and writes nothing until the valid
rows are confirmed."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote

import aiohttp
import openpyxl
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.clock import FixedClock
from bot.content import load_content
from bot.domain import dues_ledger
from models import AuditEntry, DuesClaim, DuesEntry, Member
from tests.community import BRANCH1, BRANCH2, COMMUNITY, seed
from tests.conftest import AppFactory
from tests.console import csrf_of, get, log_in, login_page, post
from tests.helpers import services

TEXTS = load_content()
MONTH = "2026-11"


def say(key: str, **values: object) -> str:
    return TEXTS.text(key, **values)


async def make(make_client: AppFactory) -> tuple[TestClient[Any, Any], dict[str, int]]:
    client = await make_client(dues_start_month="2026-09")
    community = await seed(
        services(client).db,
        bind=("YX-001", "YX-002", "YX-003", "YX-004", "YX-007"),
        grid_worker="o-grid",
        admin="o-admin",
    )

    def write(session: Session) -> None:
        session.execute(update(Member).where(Member.number == "YX-004").values(dues_base_fen=310000))
        session.execute(update(Member).where(Member.number == "YX-012").values(dues_base_fen=250000))

    await services(client).db.run(write)
    return client, community.ids


async def entries(client: TestClient[Any, Any]) -> list[tuple[str, str | None, str]]:
    async with services(client).db.read() as session:
        rows = await session.execute(
            select(Member.number, DuesEntry.month, DuesEntry.source)
            .join(Member, Member.id == DuesEntry.member_id)
            .where(DuesEntry.kind == "payment")
            .order_by(DuesEntry.id)
        )
        return [(str(n), m, str(s)) for n, m, s in rows.all()]


async def audits(client: TestClient[Any, Any], action: str) -> list[AuditEntry]:
    async with services(client).db.read() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_nobody_is_sent_to_log_in_and_others_are_refused(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, _ = await make(make_client)
    for path in ("/console/dues", "/console/dues?format=xlsx", "/console/dues/import"):
        resp, _ = await get(client, path)
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login"), path
    token = csrf_of(await login_page(client))
    for path in (
        "/console/dues/pay",
        "/console/dues/confirm",
        "/console/dues/return",
        "/console/dues/import/confirm",
    ):
        resp, _ = await post(client, path, {"_csrf": token})
        assert (resp.status, resp.headers.get("Location")) == (302, "/console/login"), path
    for openid in ("o-YX-007", "o-grid"):  # a committee member, a grid worker: not theirs
        await log_in(client, clock, openid)
        resp, html = await get(client, "/console/dues")
        assert resp.status == 403 and say("console_forbidden") in html, openid
        assert 'href="/console/dues"' not in html
        for path in ("/console/dues/pay", "/console/dues/confirm", "/console/dues/return"):
            resp, _ = await post(client, path, {"_csrf": csrf_of(html), "who": "王秀兰", "what": MONTH})
            assert resp.status == 403, (openid, path)
        resp, _ = await get(client, "/console/dues/import")
        assert resp.status == 403
        await post(client, "/console/logout", {"_csrf": csrf_of(html)})
    assert await entries(client) == []


async def test_a_branch_secretary_sees_their_branch_and_records_a_payment(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, ids = await make(make_client)
    await log_in(client, clock, "o-YX-002")  # 林晓梅, 第一网格党支部书记
    resp, html = await get(client, "/console/dues")
    assert resp.status == 200
    assert say("console_dues_page_heading", unit="第一网格党支部", month="2026年11月") in html
    assert "王秀兰" in html and "郑国平" in html and "陈志强" not in html and "刘洋" not in html
    assert "1号楼党小组" in html  # the drill-down
    for other in (BRANCH2, COMMUNITY, ""):
        resp, _ = await get(client, f"/console/dues?unit={quote(other)}")
        assert resp.status == 404, other
    resp, _ = await get(client, "/console/dues?month=2026-13")
    assert resp.status == 404

    # CSRF: without the token nothing is recorded.
    resp, html = await post(client, "/console/dues/pay", {"who": "王秀兰", "what": MONTH})
    assert resp.status == 403 and await entries(client) == []

    resp, html = await get(client, "/console/dues")
    token = csrf_of(html)
    form = {"_csrf": token, "who": "王秀兰", "what": "2026-09至2026-11", "unit": BRANCH1, "month": MONTH}
    resp, _ = await post(client, "/console/dues/pay", form)
    assert resp.status == 303 and resp.headers["Location"].startswith("/console/dues?")
    resp, html = await get(client, resp.headers["Location"])
    assert say("dues_paid", name="王秀兰", months="2026年9月至2026年11月", total="46.50", credit="") in html
    assert await entries(client) == [("YX-004", m, "console") for m in ("2026-09", "2026-10", "2026-11")]
    assert say("console_dues_source_console") in html  # how it was recorded, in the ledger
    # The member is told, as when the chat records it.
    async with services(client).db.read() as session:
        from models import Notice, OutboxRow

        texts = list(
            await session.scalars(
                select(Notice.text)
                .join(OutboxRow, OutboxRow.notice_id == Notice.id)
                .where(OutboxRow.member_id == ids["YX-004"])
            )
        )
    assert any("已由书记登记" in t for t in texts)

    # The chat's refusals, word for word: again, outside the branch, unknown, no base, a bad month.
    cases = [
        ({"who": "王秀兰", "what": MONTH}, say("dues_refused_all_paid", name="王秀兰", months="2026年11月")),
        ({"who": "YX-013", "what": MONTH}, say("dues_outside", name="刘洋")),
        ({"who": "张三", "what": MONTH}, say("dues_not_found", name="张三")),
        ({"who": "YX-404", "what": MONTH}, say("console_dues_no_number", number="YX-404")),
        ({"who": "郑国平", "what": MONTH}, say("dues_refused_no_base", name="郑国平", month="2026年11月")),
        ({"who": "王秀兰", "what": "2026-13"}, say("dues_bad_month", value="2026-13")),
        ({"who": "王秀兰", "what": "很多"}, say("dues_bad_amount", value="很多")),
        (
            {"who": "王秀兰", "what": "2028-01"},
            say("dues_refused_too_far", month="2028年1月", last="2027年11月"),
        ),
    ]
    for sent, expected in cases:
        resp, _ = await post(
            client, "/console/dues/pay", {"_csrf": token, "unit": BRANCH1, "month": MONTH, **sent}
        )
        assert resp.status == 303
        _, html = await get(client, resp.headers["Location"])
        assert expected in html, sent
    # An amount with nothing left unpaid: kept as credit, in the chat's words.
    resp, _ = await post(
        client,
        "/console/dues/pay",
        {"_csrf": token, "unit": BRANCH1, "month": MONTH, "who": "YX-004", "what": "15.5"},
    )
    _, html = await get(client, resp.headers["Location"])
    assert say("dues_refused_nothing_due", name="王秀兰", amount="15.50") in html
    assert len(await entries(client)) == 3


async def test_claims_are_confirmed_or_returned(make_client: AppFactory, clock: FixedClock) -> None:
    client, ids = await make(make_client)
    now = clock.now()

    def claims(session: Session) -> None:
        unit = session.scalar(select(Member.unit_id).where(Member.id == ids["YX-004"]))
        dues_ledger.claim(session, ids["YX-004"], int(unit or 0), [MONTH], now)
        unit = session.scalar(select(Member.unit_id).where(Member.id == ids["YX-012"]))
        dues_ledger.claim(session, ids["YX-012"], int(unit or 0), [MONTH], now)

    await services(client).db.run(claims)
    await log_in(client, clock, "o-YX-002")
    resp, html = await get(client, "/console/dues")
    assert say("console_dues_claims_heading", count=1) in html  # 第二网格's claim is not theirs
    token = csrf_of(html)
    resp, _ = await post(client, "/console/dues/confirm", {"_csrf": token, "number": "YX-012"})
    assert resp.status == 404
    resp, _ = await post(
        client, "/console/dues/confirm", {"_csrf": token, "number": "YX-004", "unit": BRANCH1, "month": MONTH}
    )
    _, html = await get(client, resp.headers["Location"])
    assert say("dues_confirmed", name="王秀兰", months="2026年11月", total="15.50") in html
    assert await entries(client) == [("YX-004", MONTH, "claim")]
    assert say("console_dues_claims_heading", count=0) in html

    await post(client, "/console/logout", {"_csrf": token})
    await log_in(client, clock, "o-YX-003")  # 陈志强, 第二网格
    resp, html = await get(client, "/console/dues")
    token = csrf_of(html)
    resp, _ = await post(client, "/console/dues/return", {"_csrf": token, "number": "YX-012", "reason": ""})
    _, html = await get(client, resp.headers["Location"])
    assert say("console_dues_reason_missing") in html
    resp, _ = await post(
        client, "/console/dues/return", {"_csrf": token, "number": "YX-012", "reason": "未收到转账"}
    )
    _, html = await get(client, resp.headers["Location"])
    assert say("dues_returned", name="王秀兰", months="2026年11月") in html
    async with services(client).db.read() as session:
        status = await session.scalar(select(DuesClaim.status).where(DuesClaim.member_id == ids["YX-012"]))
    assert status == "returned"


async def test_the_ledger_downloads_like_the_cli_report_audited(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, _ = await make(make_client)
    await log_in(client, clock, "o-admin")
    resp, html = await get(client, "/console/dues")
    assert resp.status == 200 and say("console_everything") in html and "刘洋" in html
    token = csrf_of(html)
    await post(client, "/console/dues/pay", {"_csrf": token, "who": "YX-004", "what": MONTH})
    resp = await client.get(f"/console/dues?unit={quote(BRANCH1)}&month={MONTH}&format=xlsx")
    assert resp.status == 200
    book = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    sheet = book.active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = [str(v) for v in TEXTS.texts["dues_cli_report_header"]] + [say("dues_cli_paid_on")]
    assert rows[0] == header
    numbers = [r[0] for r in rows[1:]]
    assert numbers == ["YX-002", "YX-007", "YX-009", "YX-004", "YX-006"]  # by unit path, then number
    wang = next(r for r in rows if r[0] == "YX-004")
    assert wang[3] == "15.50" and wang[4] == say("dues_cli_state_paid")
    found = await audits(client, "export_dues_report")
    assert [
        (a.scope, a.detail["month"], a.detail["members"], a.detail["format"], a.detail["via"]) for a in found
    ] == [(BRANCH1, MONTH, 5, "xlsx", "console")]
    # The page shows the same rows.
    _, html = await get(client, f"/console/dues?unit={quote(BRANCH1)}&month={MONTH}")
    for number in numbers:
        assert f"<td>{number}</td>" in html


def statement(rows: list[str]) -> bytes:
    return ("编号,姓名,月份,金额,日期\n" + "\n".join(rows) + "\n").encode()


async def test_a_bank_statement_with_a_bad_row_writes_nothing_until_the_valid_rows_are_confirmed(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, _ = await make(make_client)
    await log_in(client, clock, "o-YX-002")
    resp, html = await get(client, "/console/dues/import")
    assert resp.status == 200
    data = statement(
        [
            "YX-004,王秀兰,2026-11,15.50,2026-11-20",
            ",张三,2026-11,10,2026-11-20",
            "YX-013,刘洋,2026-11,129,2026-11-20",
        ]
    )
    form = aiohttp.FormData()
    form.add_field("_csrf", csrf_of(html))
    form.add_field("file", io.BytesIO(data), filename="流水.csv", content_type="text/csv")
    resp = await client.post("/console/dues/import/check", data=form, allow_redirects=False)
    assert resp.status == 303
    resp, html = await get(client, resp.headers["Location"])
    assert resp.status == 200
    assert "<td>3</td>" in html and "<td>4</td>" in html  # 张三 unknown; 刘洋 is not in 第一网格
    assert say("console_dues_import_blocked", count=2) in html
    assert 'id="import-load-valid"' in html
    assert await entries(client) == []
    token = resp.url.query["upload"]
    resp, html = await post(
        client, "/console/dues/import/confirm", {"_csrf": csrf_of(html), "token": token, "load_valid": "1"}
    )
    assert resp.status == 303
    resp, html = await get(client, resp.headers["Location"])
    assert 'id="import-done"' in html
    assert await entries(client) == [("YX-004", MONTH, "import")]
    _, html = await get(client, "/console/dues")
    assert say("console_dues_source_import") in html

    # A file that is not a statement says why.
    form = aiohttp.FormData()
    form.add_field("_csrf", csrf_of(html))
    form.add_field("file", io.BytesIO("甲,乙\n1,2\n".encode()), filename="x.csv", content_type="text/csv")
    resp = await client.post("/console/dues/import/check", data=form, allow_redirects=False)
    assert resp.status == 400 and 'id="import-error"' in await resp.text()


async def test_the_community_secretary_sees_both_branches_and_uploads_are_guarded(
    make_client: AppFactory, clock: FixedClock
) -> None:
    client, _ = await make(make_client)
    await log_in(client, clock, "o-YX-001")  # 周建国, 社区党委书记
    resp, html = await get(client, "/console/dues")
    assert resp.status == 200
    assert say("console_dues_page_heading", unit="银杏社区党委", month="2026年11月") in html
    assert "林晓梅" in html and "陈志强" in html and "刘洋" in html
    resp, html = await get(client, f"/console/dues?unit={quote(BRANCH2)}")
    assert resp.status == 200 and "陈志强" in html and "林晓梅" not in html
    resp, _ = await get(client, f"/console/dues?unit={quote('青禾街道党工委')}")
    assert resp.status == 404  # above their unit
    resp, _ = await get(client, f"/console/dues?unit={quote(COMMUNITY + '/没有')}")
    assert resp.status == 404
    # Uploads: refused without the CSRF token, and over 2MB (413); nothing kept, nothing written.
    form = aiohttp.FormData()
    form.add_field(
        "file", io.BytesIO(statement(["YX-004,王秀兰,2026-11,15.50,2026-11-20"])), filename="a.csv"
    )
    resp = await client.post("/console/dues/import/check", data=form, allow_redirects=False)
    assert resp.status == 403
    form = aiohttp.FormData()
    form.add_field("_csrf", csrf_of(html))
    form.add_field("file", io.BytesIO(b"x" * (2 * 1024 * 1024 + 1)), filename="big.csv")
    resp = await client.post("/console/dues/import/check", data=form, allow_redirects=False)
    assert resp.status == 413 and say("console_upload_too_large") in await resp.text()
    resp, html = await post(
        client, "/console/dues/import/confirm", {"_csrf": csrf_of(html), "token": "B" * 32}
    )
    assert resp.status == 400 and say("console_upload_expired") in html
    assert await entries(client) == []
