"""党费 from the command line: `partybot dues import` of a bank statement (header spellings, matching by 编号
or by name within --org, a row-numbered report of what did not match, nothing written when a row fails
unless --load-valid, a second import recording nothing twice) and `partybot dues report` (text and Excel,
audited)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.cli import main
from bot.domain.dues_import import import_dues
from models import AuditEntry, DuesEntry, Member
from models.db import Database
from tests.community import BRANCH1, seed
from tests.conftest import DATA_KEY

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)

STATEMENT = """党员编号,户名,所属月份,交易金额,交易日期,摘要
YX-004,,2026-09至2026-11,46.50,2026-11-20,王秀兰 党费
,郑国平,2026-11,21.00,2026-11-20,
YX-099,,2026-11,15.00,,
,王秀兰,2026-11,15.50,,
YX-013,,2026-13,129,,
YX-013,,2026-10至2026-11,100.00,,
"""


async def prepare(url: str) -> None:
    db = Database(url)
    try:
        await seed(db)

        def write(session: Session) -> None:
            session.execute(update(Member).where(Member.number == "YX-004").values(dues_base_fen=310000))
            session.execute(update(Member).where(Member.number == "YX-009").values(dues_base_fen=420000))
            session.execute(update(Member).where(Member.number == "YX-013").values(dues_base_fen=860000))

        await db.run(write)
    finally:
        await db.dispose()


async def entries(url: str) -> list[tuple[str, str | None, int]]:
    db = Database(url)
    try:
        async with db.read() as session:
            rows = (
                await session.execute(
                    select(Member.number, DuesEntry.month, DuesEntry.amount_fen)
                    .join(Member, Member.id == DuesEntry.member_id)
                    .order_by(Member.number, DuesEntry.month)
                )
            ).all()
        return [(str(n), m, int(a)) for n, m, a in rows]
    finally:
        await db.dispose()


async def run_import(url: str, path: Path, **kw: object) -> list[str]:
    db = Database(url)
    try:
        result = await import_dues(db, path, NOW, start="2026-09", timezone="Asia/Shanghai", **kw)  # type: ignore[arg-type]
        return [str(issue) for issue in result.report.errors + result.report.warnings]
    finally:
        await db.dispose()


def test_a_statement_with_unmatched_rows_writes_nothing_unless_load_valid(
    database_url: str, tmp_path: Path
) -> None:
    asyncio.run(prepare(database_url))
    path = tmp_path / "流水.csv"
    path.write_text(STATEMENT, encoding="utf-8-sig")
    issues = asyncio.run(run_import(database_url, path))
    assert issues == [
        "第 4 行 编号：没有编号为“YX-099”的党员",
        "第 5 行 姓名：党费交纳流水中有 2 位党员叫“王秀兰”（编号 YX-004、YX-012），请填写编号",
        "第 6 行 月份：“2026-13”不是月份，应写成 2026-11 或 2026-09至2026-11",
        "第 7 行 金额：金额 100.00 元不足，这几个月应交 258.00 元",
    ]
    assert asyncio.run(entries(database_url)) == []

    # Within the branch the name is unique; --load-valid records the rows without errors.
    issues = asyncio.run(run_import(database_url, path, org=BRANCH1, load_valid=True))
    assert issues == [
        "第 4 行 编号：没有编号为“YX-099”的党员",
        "第 6 行 月份：“2026-13”不是月份，应写成 2026-11 或 2026-09至2026-11",
        f"第 7 行 编号：编号为“YX-013”的党员不在 {BRANCH1} 内",
        "第 5 行 月份：2026年11月 已登记过，未重复导入",  # a warning: row 2 paid it
    ]
    recorded = asyncio.run(entries(database_url))
    assert ("YX-004", "2026-09", 1550) in recorded and ("YX-004", "2026-11", 1550) in recorded
    assert ("YX-009", "2026-11", 2100) in recorded and not [r for r in recorded if r[0] == "YX-013"]
    # Importing the same file again records nothing twice.
    again = asyncio.run(run_import(database_url, path, org=BRANCH1, load_valid=True))
    assert "第 2 行 月份：2026年9月、2026年10月、2026年11月 已登记过，未重复导入" in again
    assert asyncio.run(entries(database_url)) == recorded


def env(url: str) -> dict[str, str]:
    return {
        "PARTYBOT_DATABASE_URL": url,
        "PARTYBOT_WECHAT_TOKEN": "cli-token",
        "PARTYBOT_DATA_KEY": DATA_KEY,
        "PARTYBOT_DUES_START_MONTH": "2026-09",
    }


def test_the_cli_imports_and_reports_the_month_audited(database_url: str, tmp_path: Path) -> None:
    asyncio.run(prepare(database_url))
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text(STATEMENT, encoding="utf-8")
    blocked = runner.invoke(main, ["dues", "import", str(bad)], env=env(database_url))
    assert blocked.exit_code == 1
    assert "第 4 行 编号：没有编号为“YX-099”的党员" in blocked.output
    assert "发现 4 处错误，未写入任何数据。" in blocked.output

    good = tmp_path / "good.csv"
    good.write_text("编号,月份,金额\nYX-004,2026-09至2026-11,46.50\nYX-013,2026-11,130\n", encoding="utf-8")
    done = runner.invoke(main, ["dues", "import", str(good)], env=env(database_url))
    assert done.exit_code == 0, done.output
    assert done.output.strip().endswith("导入完成：登记4个月，共175.50元；预存1.00元。")

    shown = runner.invoke(
        main, ["dues", "report", "--month", "2026-11", "--org", BRANCH1], env=env(database_url)
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "第一网格党支部2026年11月党费明细"
    assert lines[1].split() == [
        "编号",
        "姓名",
        "所在组织",
        "应交（元）",
        "状态",
        "计算方法",
        "连续未交（月）",
        "交纳日期",
    ]
    wang = next(line for line in lines if line.startswith("YX-004")).split()
    assert wang[:6] == ["YX-004", "王秀兰", f"{BRANCH1}/1号楼党小组", "15.50", "已交", "3100.00×0.5%"]
    assert lines[-1] == "合计：应交5人，已交1人，交纳率20%；已收15.50元，应收36.50元。"
    assert "138" not in shown.output

    book = tmp_path / "out" / "党费.xlsx"
    written = runner.invoke(
        main, ["dues", "report", "--month", "2026-11", "--xlsx", str(book)], env=env(database_url)
    )
    assert written.exit_code == 0, written.output
    sheet = load_workbook(book)["党费明细"]
    assert [c.value for c in sheet[1]][:3] == ["编号", "姓名", "所在组织"] and sheet.max_row == 10
    bad_month = runner.invoke(main, ["dues", "report", "--month", "2026-13"], env=env(database_url))
    assert bad_month.exit_code == 2 and "不是月份" in bad_month.output
    nowhere = runner.invoke(
        main, ["dues", "report", "--month", "2026-11", "--org", "没有"], env=env(database_url)
    )
    assert nowhere.exit_code == 2 and "没有组织“没有”，请写完整路径。" in nowhere.output

    async def audit() -> list[tuple[str, str | None]]:
        db = Database(database_url)
        try:
            async with db.read() as session:
                rows = (await session.execute(select(AuditEntry.action, AuditEntry.scope))).all()
                count = await session.scalar(select(func.count()).select_from(AuditEntry))
            assert count == len(rows)
            return [(str(a), s) for a, s in rows]
        finally:
            await db.dispose()

    assert asyncio.run(audit()) == [("export_dues_report", BRANCH1), ("export_dues_report", None)]
