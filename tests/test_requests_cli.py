"""`partybot report requests`: the three rates of a hand-made month (tests/test_request_rates.py's, whose
counts are worked out by hand there) as a text table and an Excel workbook, for the community and each
grid below it; a bad month and an unknown unit answered clearly; every export audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from bot.cli import main
from models import AuditEntry
from models.db import Database
from tests.community import BRANCH1, BRANCH2, COMMUNITY
from tests.conftest import DATA_KEY
from tests.request_seed import seed_requests
from tests.test_request_rates import month_of_tickets


async def prepare(url: str) -> None:
    db = Database(url)
    try:
        await month_of_tickets(db, await seed_requests(db))
    finally:
        await db.dispose()


async def audited(url: str) -> list[tuple[str, str | None, dict[str, object]]]:
    db = Database(url)
    try:
        async with db.read() as session:
            rows = (
                await session.execute(
                    select(AuditEntry.action, AuditEntry.scope, AuditEntry.detail)
                    .where(AuditEntry.action == "export_request_rates")
                    .order_by(AuditEntry.id)
                )
            ).all()
        return [(str(a), s, dict(d)) for a, s, d in rows]
    finally:
        await db.dispose()


def env(url: str) -> dict[str, str]:
    return {"PARTYBOT_DATABASE_URL": url, "PARTYBOT_WECHAT_TOKEN": "cli-token", "PARTYBOT_DATA_KEY": DATA_KEY}


def test_the_three_rates_of_a_month_as_a_table_and_a_workbook(database_url: str, tmp_path: Path) -> None:
    asyncio.run(prepare(database_url))
    runner = CliRunner()
    shown = runner.invoke(
        main, ["report", "requests", "--month", "2026-11", "--org", COMMUNITY], env=env(database_url)
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "银杏社区党委2026年11月居民诉求统计（按诉求提交月份）"
    assert lines[1].split() == [
        "组织",
        "受理（件）",
        "按时响应",
        "响应率",
        "按时办结",
        "解决率",
        "已评价",
        "满意和基本满意",
        "满意率",
        "未评价关闭",
    ]
    rows = [line.split() for line in lines if line.startswith(("银杏", "第一", "第二"))][1:]
    # The community: 8 tickets, 5 taken in time, 5 solved in time, 7 rated, 6 satisfied, 1 closed unrated.
    assert rows == [
        ["银杏社区党委（合计）", "8", "5", "62%", "5", "62%", "7", "6", "86%", "1"],
        ["第一网格党支部", "6", "4", "67%", "4", "67%", "6", "5", "83%", "1"],
        ["第二网格党支部", "1", "1", "100%", "1", "100%", "1", "1", "100%", "0"],
    ]
    assert lines[-1].startswith("响应率：按时接单占受理的比例")

    grid = runner.invoke(
        main, ["report", "requests", "--month", "2026-11", "--org", f"/{BRANCH1}/"], env=env(database_url)
    )
    assert grid.exit_code == 0, grid.output
    group_row = next(line for line in grid.output.splitlines() if line.startswith("1号楼党小组")).split()
    assert group_row == ["1号楼党小组", "0", "0", "—", "0", "—", "0", "0", "—", "0"]  # no ticket: no rate

    book = tmp_path / "三率.xlsx"
    written = runner.invoke(
        main,
        ["report", "requests", "--month", "2026-11", "--by", "grid", "--xlsx", str(book)],
        env=env(database_url),
    )
    assert written.exit_code == 0, written.output
    assert written.output.strip() == f"已导出到 {book}"
    sheet = load_workbook(book).active
    assert sheet is not None and sheet.title == "诉求统计"
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "组织" and values[0][-1] == "组织路径"
    assert values[1] == [
        "全部组织（合计）",
        8,
        5,
        "62%",
        5,
        "62%",
        7,
        6,
        "86%",
        1,
        None,
    ]  # the whole city: no path
    assert [(v[0], v[1], v[-1]) for v in values[2:]] == [
        ("第一网格党支部", 6, BRANCH1),
        ("第二网格党支部", 1, BRANCH2),
    ]

    assert [(a, s, d["month"], d["format"]) for a, s, d in asyncio.run(audited(database_url))] == [
        ("export_request_rates", COMMUNITY, "2026-11", "text"),
        ("export_request_rates", BRANCH1, "2026-11", "text"),
        ("export_request_rates", None, "2026-11", "xlsx"),
    ]


def test_a_bad_month_or_an_unknown_unit_is_refused_and_nothing_is_audited(database_url: str) -> None:
    asyncio.run(prepare(database_url))
    runner = CliRunner()
    bad = runner.invoke(main, ["report", "requests", "--month", "2026-13"], env=env(database_url))
    assert bad.exit_code == 2
    assert bad.output == "partybot: --month 应写成年份和月份，例如 2026-11（收到的是 2026-13）\n"
    unknown = runner.invoke(
        main,
        ["report", "requests", "--month", "2026-11", "--org", "银杏社区党委/第九网格"],
        env=env(database_url),
    )
    assert unknown.exit_code == 2
    assert unknown.output.startswith("partybot: 没有组织“银杏社区党委/第九网格”，请写完整路径")
    december = runner.invoke(main, ["report", "requests", "--month", "2026-12"], env=env(database_url))
    assert december.exit_code == 0 and "全部组织2026年12月居民诉求统计" in december.output
    assert [d["month"] for _, _, d in asyncio.run(audited(database_url))] == ["2026-12"]
