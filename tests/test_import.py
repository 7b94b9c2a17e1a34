"""A secretary loads the community's spreadsheets: the organisation tree, the member ledger, grid workers.

Every test runs end to end against a real database (SQLite, or PostgreSQL with PARTYBOT_TEST_DATABASE_URL).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cli import main
from bot.domain.importing import (
    ImportFailed,
    ImportReport,
    import_members,
    import_org,
    import_staff,
    message,
    read_table,
)
from bot.domain.importing.columns import header_aliases
from bot.domain.importing.values import ThemeDayRule, looks_like_id_number, parse_amount_fen, parse_theme_day
from bot.domain.privacy import Vault, check_key, new_key
from models import Admin, Binding, Member, OrgUnit, Staff
from models.db import Database

DATA = Path(__file__).parent / "data"
ORG, ROSTER, STAFF = DATA / "org-sample.csv", DATA / "roster-sample.csv", DATA / "staff-sample.csv"
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
KEY = new_key()
G1 = "青禾街道党工委/银杏社区党委/第一网格党支部"
G2 = "青禾街道党工委/银杏社区党委/第二网格党支部"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def vault() -> Vault:
    return Vault(KEY)


async def load_all(db: Database, model: type[Any]) -> list[Any]:
    async with db.read() as session:
        key = model.openid if model is Binding else model.id
        return list((await session.scalars(select(model).order_by(key))).all())


async def members_by_number(db: Database) -> dict[str, Member]:
    return {m.number: m for m in await load_all(db, Member)}


async def seed_samples(db: Database, vault: Vault) -> None:
    assert (await import_org(db, ORG, now=NOW)).written
    assert (await import_members(db, vault, ROSTER, now=NOW)).written
    assert (await import_staff(db, vault, STAFF, now=NOW)).written


def edited(tmp_path: Path, source: Path, name: str, edit: Any) -> Path:
    """A copy of source with its lines passed through edit(list of lines) -> list of lines."""
    lines = source.read_text(encoding="utf-8").splitlines()
    path = tmp_path / name
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")
    return path


def errors_of(report: ImportReport) -> set[tuple[int | None, str | None]]:
    return {(e.row, e.column) for e in report.errors}


# --- the sample community -------------------------------------------------------------------------


async def test_the_sample_files_import_in_order(db: Database, vault: Vault) -> None:
    org = await import_org(db, ORG, now=NOW)
    assert org.ok and org.written and len(org.added) == 9 and not org.warnings
    members = await import_members(db, vault, ROSTER, now=NOW)
    assert members.ok and members.written and len(members.added) == 18 and not members.warnings
    staff = await import_staff(db, vault, STAFF, now=NOW)
    assert staff.ok and staff.written and [e.key for e in staff.added] == ["WG-01", "WG-02"]
    assert members.summary() == message(
        "report.done", added=18, updated=0, reactivated=0, deactivated=0, unchanged=0, missing=0, skipped=0
    )

    units = {u.path: u for u in await load_all(db, OrgUnit)}
    assert len(units) == 9
    branch = units[G1]
    assert (branch.kind, branch.depth, branch.theme_day_rule) == ("网格党支部", 2, "每月25日")
    assert branch.buildings == ["1号楼", "2号楼", "3号楼"]
    assert units[G2].theme_day_rule == "每月第一个星期五"
    household = units[G2 + "/6-7号楼党小组/周家中心户"]
    assert household.kind == "党员中心户" and household.parent_id == units[G2 + "/6-7号楼党小组"].id
    assert units["青禾街道党工委"].parent_id is None

    by_number = await members_by_number(db)
    assert len(by_number) == 18
    zhou = by_number["YX-001"]
    assert (zhou.name, zhou.gender, zhou.birth_year, zhou.birth_month) == ("周建国", "男", 1958, 3)
    assert (zhou.status, zhou.kind, zhou.post, zhou.voice_mode) == ("正式", "离退休", "书记", False)
    assert zhou.joined_on is not None and zhou.joined_on.isoformat() == "1982-07-01"
    assert zhou.unit_id == units["青禾街道党工委/银杏社区党委"].id and zhou.dues_base_fen == 420000
    assert by_number["YX-003"].volunteer_posts == ["矛盾调解岗", "民意调查岗"]
    assert by_number["YX-004"].helper_id == by_number["YX-006"].id and by_number["YX-004"].voice_mode is True
    assert by_number["YX-011"].helper_id == zhou.id
    assert by_number["YX-010"].status == "预备" and by_number["YX-010"].dues_base_fen is None
    assert by_number["YX-018"].dues_base_fen == 500001  # 5000.01 yuan, just above the 5000 bracket edge
    assert by_number["YX-007"].mobile_destination == "浙江省杭州市余杭区"
    assert all(m.active and m.chat_preferences == [] for m in by_number.values())

    # Phones are stored only encrypted: the raw column holds no digits of them, and the key reads them back.
    assert by_number["YX-005"].phone_enc is None and by_number["YX-005"].phone_tail_mac is None
    stored = by_number["YX-002"].phone_enc
    assert stored is not None and "13800138002" not in stored and "0138002" not in stored
    assert vault.decrypt_phone(stored) == "13800138002"
    assert by_number["YX-002"].phone_tail_mac == vault.phone_tail_mac("13800138002")

    staff_rows = await load_all(db, Staff)
    assert [(s.number, s.name, s.role) for s in staff_rows] == [
        ("WG-01", "韩磊", "网格员"),
        ("WG-02", "蒋雪", "网格员"),
    ]
    assert staff_rows[1].unit_id == units[G2].id
    assert vault.decrypt_phone(staff_rows[0].phone_enc) == "13900139001"
    assert "13900139001" not in (staff_rows[0].phone_enc or "")


async def test_reimporting_the_same_files_changes_nothing(db: Database, vault: Vault) -> None:
    await seed_samples(db, vault)
    before = {m.number: m.updated_at for m in await load_all(db, Member)}
    for report in (
        await import_org(db, ORG, now=LATER),
        await import_members(db, vault, ROSTER, now=LATER),
        await import_staff(db, vault, STAFF, now=LATER),
    ):
        assert report.ok and not report.changes and not report.missing
        assert report.summary() == message("report.no_change", unchanged=report.rows)
    assert {m.number: m.updated_at for m in await load_all(db, Member)} == before


# --- errors ---------------------------------------------------------------------------------------


async def test_a_roster_with_bad_rows_lists_every_error_and_writes_nothing(
    db: Database, vault: Vault
) -> None:
    await import_org(db, ORG, now=NOW)
    report = await import_members(db, vault, DATA / "roster-bad.csv", now=NOW)
    assert not report.written and report.blocked
    # Row numbers as the spreadsheet shows them: the header is row 1 and the blank row 10 still counts.
    expected = {
        (3, "手机"): message("row.phone"),
        (4, "出生年月"): message("row.not_a_date", value="1958-13"),
        (5, "入党日期"): message("row.not_a_date", value="1982-02-30"),
        (6, "所在组织"): message("row.unit_unknown", value="青禾街道党工委/银杏社区党委/第九网格党支部"),
        (7, "人员类型"): message(
            "row.choice", value="退役", allowed="在职、离退休、流动、两新、学生、无业、农民"
        ),
        (8, "状态"): message("row.choice", value="候补", allowed="正式、预备"),
        (9, "职务"): message("row.choice", value="主任", allowed="书记、副书记、委员、组长"),
        (11, "编号"): message("row.duplicate_key", value="YX-109", rows="11、12"),
        (12, "编号"): message("row.duplicate_key", value="YX-109", rows="11、12"),
        (13, "帮扶人编号"): message("row.helper_unknown", value="YX-999"),
        (14, "帮扶人编号"): message("row.helper_self"),
        (15, "党费基数"): message("row.amount_negative", value="-100"),
        (16, "姓名"): message("row.required"),
        (19, "性别"): message("row.choice", value="未知", allowed="男、女"),
        (20, "特长"): message("row.id_number"),
        (21, "语音模式"): message("row.choice", value="可能", allowed="是、否"),
        (21, "党费基数"): message("row.amount_decimals", value="12.345"),
    }
    assert {(e.row, e.column): e.message for e in report.errors} == expected
    assert len(report.errors) == len(expected)
    assert [e.row for e in report.errors] == sorted(e.row or 0 for e in report.errors)
    assert str(report.errors[0]) == "第 3 行 手机：" + message("row.phone")
    assert "1390000010" not in "\n".join(report.lines())  # a bad phone is not repeated in the report
    assert report.summary() == message("report.blocked", count=len(expected))
    assert await load_all(db, Member) == []

    # --load-valid writes the three good rows; the helper whose row was bad is dropped with a warning.
    partial = await import_members(db, vault, DATA / "roster-bad.csv", now=NOW, load_valid=True)
    assert partial.written and not partial.blocked and len(partial.errors) == len(expected)
    assert [e.key for e in partial.added] == ["YX-101", "YX-114", "YX-115"]
    assert partial.skipped_rows == [3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 19, 20, 21]
    assert (17, "帮扶人编号", message("warn.helper_dropped", helper="YX-102")) in {
        (w.row, w.column, w.message) for w in partial.warnings
    }
    by_number = await members_by_number(db)
    assert sorted(by_number) == ["YX-101", "YX-114", "YX-115"]
    assert by_number["YX-114"].helper_id is None
    assert by_number["YX-115"].helper_id == by_number["YX-101"].id
    assert all("11010519491231002X" not in str(vars(m)) for m in by_number.values())


async def test_the_org_tree_checks_parents_kinds_and_theme_days(db: Database) -> None:
    report = await import_org(db, DATA / "org-bad.csv", now=NOW)
    assert not report.written
    assert {(e.row, e.column): e.message for e in report.errors} == {
        (2, "组织路径"): message("row.parent_bad", parent="A街道/B社区", parent_row=3),
        (3, "主题党日"): message("row.theme_day_fifth", value="每月第五个星期一"),
        (5, "组织路径"): message("row.parent_missing", parent="X街道"),
        (6, "主题党日"): message("row.theme_day", value="每月32日"),
        (8, "类型"): message(
            "row.kind_order", kind="街道党工委", parent_kind="社区党委", parent="A街道/E社区"
        ),
        (9, "类型"): message(
            "row.choice", value="什么", allowed="街道党工委、社区党委、网格党支部、楼栋党小组、党员中心户"
        ),
    }
    assert await load_all(db, OrgUnit) == []

    partial = await import_org(db, DATA / "org-bad.csv", now=NOW, load_valid=True)
    units = {u.path: u for u in await load_all(db, OrgUnit)}
    assert partial.written and sorted(units) == ["A街道", "A街道/E社区"]
    # Aliases: 社区党总支 is stored as 社区党委; buildings split on the full-width ；too.
    assert units["A街道/E社区"].kind == "社区党委" and units["A街道/E社区"].buildings == ["1号楼", "2号楼"]
    assert units["A街道/E社区"].theme_day_rule == "每月最后一个工作日"


async def test_parents_may_come_in_any_order_or_already_exist(db: Database, tmp_path: Path) -> None:
    reversed_org = edited(tmp_path, ORG, "org.csv", lambda lines: [lines[0], *reversed(lines[1:])])
    assert (await import_org(db, reversed_org, now=NOW)).written
    more = tmp_path / "more.csv"
    more.write_text(f"组织路径,类型\n{G1}/8号楼党小组,党小组\n", encoding="utf-8")
    report = await import_org(db, more, now=NOW)
    assert report.written and [e.key for e in report.added] == [f"{G1}/8号楼党小组"]
    # The units already there and not in this small file are reported, not touched.
    assert len(report.missing) == 6 and not report.deactivated
    units = {u.path: u for u in await load_all(db, OrgUnit)}
    assert units[f"{G1}/8号楼党小组"].kind == "楼栋党小组" and all(u.active for u in units.values())


# --- file formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-16"])
async def test_csv_in_gbk_utf8_with_bom_and_utf16_imports(
    db: Database, vault: Vault, tmp_path: Path, encoding: str
) -> None:
    paths = {}
    for source in (ORG, ROSTER, STAFF):
        path = tmp_path / source.name
        text = source.read_text(encoding="utf-8")
        if encoding == "utf-16":  # Excel's "Unicode text": tab-separated
            text = text.replace(",", "\t")
        path.write_bytes(text.encode(encoding))
        paths[source] = path
    assert (await import_org(db, paths[ORG], now=NOW)).written
    report = await import_members(db, vault, paths[ROSTER], now=NOW)
    assert report.written and len(report.added) == 18 and not report.warnings
    assert (await import_staff(db, vault, paths[STAFF], now=NOW)).written
    by_number = await members_by_number(db)
    assert by_number["YX-013"].name == "高淑芬" and by_number["YX-018"].dues_base_fen == 500001
    # The same content in another encoding is the same data: importing the UTF-8 sample changes nothing.
    again = await import_members(db, vault, ROSTER, now=NOW)
    assert not again.changes and len(again.unchanged) == 18


async def test_an_xlsx_file_imports_with_columns_in_any_order_and_typed_cells(
    db: Database, vault: Vault, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    await import_org(db, ORG, now=NOW)
    table = read_table(ROSTER)
    header = list(table.header)
    order = list(reversed(range(len(header))))  # every column in the opposite order
    aliases = {"手机": "手机号码", "编号": "党员编号", "所在组织": "所在支部", "姓名": "名字"}
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "党员台账"
    sheet.append([aliases.get(header[i], header[i]) for i in order])
    for n, row in enumerate(table.rows):
        cells: list[Any] = list(row.cells)
        named = dict(zip(header, cells, strict=True))
        if named["手机"]:
            cells[header.index("手机")] = int(named["手机"])  # typed as a number, as Excel does
        joined = named["入党日期"]
        cells[header.index("入党日期")] = datetime.strptime(joined, "%Y-%m-%d")  # a date cell
        if named["党费基数"]:
            cells[header.index("党费基数")] = float(named["党费基数"])
        sheet.append([cells[i] or None for i in order])
        if n == 4:
            sheet.append([])  # a blank row is skipped
    workbook.create_sheet("说明").append(["这张表不会被读取"])
    path = tmp_path / "台账.xlsx"
    workbook.save(path)

    read = read_table(path)
    assert read.header[-1] == "党员编号" and read.rows[5].number == 8  # row 7 is the blank one
    report = await import_members(db, vault, path, now=NOW)
    assert report.written and len(report.added) == 18 and not report.errors
    by_number = await members_by_number(db)
    assert vault.decrypt_phone(by_number["YX-017"].phone_enc) == "13800138017"
    assert by_number["YX-018"].dues_base_fen == 500001 and by_number["YX-001"].dues_base_fen == 420000
    assert by_number["YX-004"].helper_id == by_number["YX-006"].id
    assert str(by_number["YX-012"].joined_on) == "2006-11-11"
    again = await import_members(db, vault, ROSTER, now=NOW)  # the CSV holds the same data
    assert not again.changes and len(again.unchanged) == 18


async def test_a_title_row_above_the_header_and_a_bare_unit_name(
    db: Database, vault: Vault, tmp_path: Path
) -> None:
    await import_org(db, ORG, now=NOW)
    path = tmp_path / "staff.csv"
    path.write_text(
        "银杏社区网格员名单,,,,\n,,,,\n"
        "工号,名字,联系电话,角色,所在网格\n"
        "WG-03,朱红,139 0013 9003,网格员,第一网格党支部\n",
        encoding="utf-8",
    )
    report = await import_staff(db, vault, path, now=NOW)
    assert report.written and [e.key for e in report.added] == ["WG-03"]
    assert [(w.row, w.message) for w in report.warnings] == [
        (4, message("warn.unit_by_name", value="第一网格党支部", path=G1))
    ]
    staff = await load_all(db, Staff)
    assert vault.decrypt_phone(staff[0].phone_enc) == "13900139003"


async def test_unreadable_files_fail_with_a_reason(db: Database, vault: Vault, tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="找不到文件"):
        read_table(tmp_path / "nope.csv")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(ImportFailed, match=r"\.xls"):
        read_table(old)
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ImportFailed, match=r"fake\.xlsx"):
        read_table(fake)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n,,\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="没有数据"):
        read_table(empty)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\xfd\x80\x81")
    with pytest.raises(ImportFailed):
        read_table(binary)


# --- columns --------------------------------------------------------------------------------------


async def test_a_missing_required_column_is_an_error_naming_it(
    db: Database, vault: Vault, tmp_path: Path
) -> None:
    await import_org(db, ORG, now=NOW)
    no_kind = edited(
        tmp_path,
        ROSTER,
        "r.csv",
        lambda lines: [",".join(line.split(",")[:7] + line.split(",")[8:]) for line in lines],
    )
    with pytest.raises(ImportFailed) as caught:
        await import_members(db, vault, no_kind, now=NOW)
    assert str(caught.value) == message("file.missing_columns", columns="人员类型", row=1)
    org = tmp_path / "org.csv"
    org.write_text("名称,主题党日\n青禾街道党工委,\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="组织路径、类型"):
        await import_org(db, org, now=NOW)
    assert await load_all(db, Member) == []


async def test_unknown_columns_warn_and_id_numbers_are_refused(
    db: Database, vault: Vault, tmp_path: Path
) -> None:
    await import_org(db, ORG, now=NOW)

    def add_columns(lines: list[str]) -> list[str]:
        out = [lines[0] + ",备注,公民身份证号码,微信号"]
        out += [line + ",老党员,11010519491231002X,wx123" for line in lines[1:]]
        return out

    path = edited(tmp_path, ROSTER, "r.csv", add_columns)
    report = await import_members(db, vault, path, now=NOW)
    assert report.written and len(report.added) == 18
    assert [(w.row, w.message) for w in report.warnings] == [
        (1, message("warn.id_column", column="公民身份证号码")),
        (1, message("warn.unknown_columns", columns="备注、微信号")),
    ]
    async with db.read() as session:
        dump = str([vars(m) for m in (await session.scalars(select(Member))).all()])
    assert "11010519491231002X" not in dump and "老党员" not in dump


def test_header_aliases_and_values() -> None:
    members = header_aliases("members")
    for alias, column in [
        ("手机号码", "手机"),
        ("联系电话", "手机"),
        ("名字", "姓名"),
        ("所在支部", "所在组织"),
        ("组织", "所在组织"),
        ("党员编号", "编号"),
        ("工号", "编号"),
    ]:
        assert members[alias] == column
    assert header_aliases("staff")["工号"] == "编号" and header_aliases("org")["组织路径"] == "组织路径"
    assert looks_like_id_number("11010519491231002X") and not looks_like_id_number("110105194912310021")
    assert not looks_like_id_number("13800138001")
    assert parse_amount_fen("5,000.01元") == 500001 and parse_amount_fen("3000") == 300000
    assert parse_theme_day("每月25日") == ThemeDayRule("day", day=25)
    assert parse_theme_day("每月第一个星期五") == ThemeDayRule("nth_weekday", nth=1, weekday=4)
    assert parse_theme_day("每月最后一个星期五") == ThemeDayRule("last_weekday", weekday=4)
    assert parse_theme_day("每月最后一个工作日") == ThemeDayRule("last_workday")
    assert parse_theme_day("每月32日") is None and parse_theme_day("每周五") is None


# --- dry run, edits, missing entries, prune -------------------------------------------------------


async def test_a_dry_run_shows_the_changes_and_writes_nothing(
    db: Database, vault: Vault, tmp_path: Path
) -> None:
    org = await import_org(db, ORG, now=NOW, dry_run=True)
    assert org.dry_run and not org.written and len(org.added) == 9
    assert org.summary() == message(
        "report.dry_run", added=9, updated=0, reactivated=0, deactivated=0, unchanged=0, missing=0, skipped=0
    )
    assert await load_all(db, OrgUnit) == []

    await seed_samples(db, vault)
    path = edited(
        tmp_path, ROSTER, "r.csv", lambda lines: [line.replace("周建国", "周建华") for line in lines]
    )
    preview = await import_members(db, vault, path, now=LATER, dry_run=True)
    assert [(e.key, e.fields) for e in preview.updated] == [("YX-001", ("姓名",))]
    assert (await members_by_number(db))["YX-001"].name == "周建国"


async def test_an_edited_file_updates_by_number_and_reports_the_fields(
    db: Database, vault: Vault, tmp_path: Path
) -> None:
    await seed_samples(db, vault)

    def edit(lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            if line.startswith("YX-003,"):
                line = line.replace("13800138003", "13900000003").replace(f"{G2},", f"{G1},")
            if line.startswith("YX-016,"):
                line = line.replace(",无业,", ",下岗,")  # an alias of the stored value: no change
            if line.startswith("YX-010,"):
                line = line.replace(",预备,", ",正式,").replace(",,,", ",,1200,")
            out.append(line)
        return out

    path = edited(tmp_path, ROSTER, "r.csv", edit)
    phone_before = (await members_by_number(db))["YX-010"].phone_enc
    report = await import_members(db, vault, path, now=LATER)
    assert report.written
    assert [(e.key, e.fields) for e in report.updated] == [
        ("YX-003", ("手机", "所在组织")),
        ("YX-010", ("状态", "党费基数")),
    ]
    assert len(report.unchanged) == 16 and not report.added
    assert "  YX-003 陈志强（手机、所在组织）" in report.lines()
    by_number = await members_by_number(db)
    assert vault.decrypt_phone(by_number["YX-003"].phone_enc) == "13900000003"
    units = {u.path: u.id for u in await load_all(db, OrgUnit)}
    assert by_number["YX-003"].unit_id == units[G1] and by_number["YX-003"].updated_at == LATER
    assert (by_number["YX-010"].status, by_number["YX-010"].dues_base_fen) == ("正式", 120000)
    assert by_number["YX-010"].phone_enc == phone_before  # only the changed fields are written
    assert by_number["YX-016"].kind == "无业" and by_number["YX-016"].updated_at == NOW


async def test_missing_rows_are_reported_and_only_prune_deactivates_and_unbinds(
    db: Database, vault: Vault, tmp_path: Path
) -> None:
    await seed_samples(db, vault)
    by_number = await members_by_number(db)
    staff = await load_all(db, Staff)

    def bind(session: Session) -> None:
        session.add(Binding(openid="o-9", member_id=by_number["YX-009"].id, method="code", bound_at=NOW))
        session.add(Binding(openid="o-1", member_id=by_number["YX-001"].id, method="code", bound_at=NOW))
        session.add(Binding(openid="o-w2", staff_id=staff[1].id, method="code", bound_at=NOW))

    await db.run(bind)
    without = edited(
        tmp_path, ROSTER, "r.csv", lambda lines: [x for x in lines if not x.startswith("YX-009,")]
    )
    report = await import_members(db, vault, without, now=LATER)
    assert report.written and [(e.key, e.name) for e in report.missing] == [("YX-009", "郑国平")]
    assert not report.deactivated and message("report.missing_hint") in report.lines()
    assert (await members_by_number(db))["YX-009"].active
    assert len(await load_all(db, Binding)) == 3

    preview = await import_members(db, vault, without, now=LATER, prune=True, dry_run=True)
    assert [e.key for e in preview.deactivated] == ["YX-009"] and preview.unbound == 1
    assert (await members_by_number(db))["YX-009"].active

    pruned = await import_members(db, vault, without, now=LATER, prune=True)
    assert pruned.written and [e.key for e in pruned.deactivated] == ["YX-009"] and pruned.unbound == 1
    after = await members_by_number(db)
    assert not after["YX-009"].active and after["YX-009"].updated_at == LATER
    assert sorted(b.openid for b in await load_all(db, Binding)) == ["o-1", "o-w2"]

    # The member comes back in the next file: re-activated.
    back = await import_members(db, vault, ROSTER, now=LATER)
    assert [e.key for e in back.reactivated] == ["YX-009"] and (await members_by_number(db))["YX-009"].active

    # Pruning a helper out of the file warns on the rows that name them.
    no_helper = edited(
        tmp_path, ROSTER, "h.csv", lambda lines: [x for x in lines if not x.startswith("YX-006,")]
    )
    warned = await import_members(db, vault, no_helper, now=LATER, prune=True, dry_run=True)
    assert [(w.row, w.column) for w in warned.warnings] == [(5, "帮扶人编号"), (6, "帮扶人编号")]

    # Staff the same way.
    one = edited(tmp_path, STAFF, "s.csv", lambda lines: lines[:2])
    pruned_staff = await import_staff(db, vault, one, now=LATER, prune=True)
    assert [e.key for e in pruned_staff.deactivated] == ["WG-02"] and pruned_staff.unbound == 1
    assert [s.active for s in await load_all(db, Staff)] == [True, False]
    assert sorted(b.openid for b in await load_all(db, Binding)) == ["o-1"]

    # And units: pruning the tree warns about people still in a deactivated unit.
    small = edited(tmp_path, ORG, "o.csv", lambda lines: [x for x in lines if "第二网格" not in x])
    pruned_org = await import_org(db, small, now=LATER, prune=True)
    assert len(pruned_org.deactivated) == 4
    assert any(G2 in w.message for w in pruned_org.warnings)
    assert sum(u.active for u in await load_all(db, OrgUnit)) == 5


async def test_a_members_chat_preferences_survive_a_reimport(db: Database, vault: Vault) -> None:
    await seed_samples(db, vault)

    def set_in_chat(session: Session) -> None:
        wang = session.scalars(select(Member).where(Member.number == "YX-004")).one()
        wang.voice_mode = False
        wang.volunteer_posts = ["环境卫生岗"]
        wang.chat_preferences = ["voice_mode", "volunteer_posts"]

    await db.run(set_in_chat)
    report = await import_members(db, vault, ROSTER, now=LATER)  # the file says 是, 政策宣传岗
    assert not report.changes and [(e.key, e.fields) for e in report.kept] == [
        ("YX-004", ("岗位", "语音模式"))
    ]
    wang = (await members_by_number(db))["YX-004"]
    assert wang.voice_mode is False and wang.volunteer_posts == ["环境卫生岗"]


async def test_phones_need_the_data_key(db: Database, tmp_path: Path) -> None:
    await import_org(db, ORG, now=NOW)
    with pytest.raises(ImportFailed, match="PARTYBOT_DATA_KEY") as caught:
        await import_members(db, None, ROSTER, now=NOW)
    assert "partybot keygen" in str(caught.value)
    no_phones = edited(
        tmp_path, STAFF, "s.csv", lambda lines: [",".join(x.split(",")[:2] + x.split(",")[3:]) for x in lines]
    )
    assert (await import_staff(db, None, no_phones, now=NOW)).written


async def test_progress_is_reported_for_each_row(db: Database) -> None:
    seen: list[tuple[int, int]] = []
    await import_org(db, ORG, now=NOW, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (9, 9) and len(seen) == 9


# --- the command line -----------------------------------------------------------------------------


def env(url: str, key: str = KEY) -> dict[str, str]:
    return {"PARTYBOT_DATABASE_URL": url, "PARTYBOT_WECHAT_TOKEN": "cli-token", "PARTYBOT_DATA_KEY": key}


async def _count(url: str, model: type[Any], **where: Any) -> int:
    database = Database(url)
    try:
        return len(
            [x for x in await load_all(database, model) if all(getattr(x, k) == v for k, v in where.items())]
        )
    finally:
        await database.dispose()


def test_the_import_commands(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    e = env(database_url)
    for args in (["org", "import"], ["members", "import"], ["staff", "import"], ["admin", "add"], ["keygen"]):
        helped = runner.invoke(main, [*args, "--help"], env=e)
        assert helped.exit_code == 0 and "Usage:" in helped.output

    bad = runner.invoke(main, ["members", "import", str(DATA / "roster-bad.csv")], env=e)
    assert bad.exit_code == 1  # the units are not there yet either
    assert "第 3 行 手机：" in bad.stdout and bad.stderr.startswith("partybot: 发现")

    org = runner.invoke(main, ["org", "import", str(ORG), "--dry-run"], env=e)
    assert org.exit_code == 0 and "试运行" in org.stdout
    assert asyncio.run(_count(database_url, OrgUnit)) == 0
    org = runner.invoke(main, ["org", "import", str(ORG)], env=e)
    assert org.exit_code == 0 and org.stdout.splitlines()[-1].startswith("导入完成：新增 9")
    members = runner.invoke(main, ["members", "import", str(ROSTER)], env=e)
    assert members.exit_code == 0 and members.stdout.splitlines()[-1].startswith("导入完成：新增 18")
    staff = runner.invoke(main, ["staff", "import", str(STAFF)], env=e)
    assert staff.exit_code == 0 and "新增 2" in staff.stdout
    again = runner.invoke(main, ["members", "import", str(ROSTER)], env=e)
    assert again.exit_code == 0 and again.stdout.splitlines()[-1] == message("report.no_change", unchanged=18)

    partial = runner.invoke(main, ["members", "import", str(DATA / "roster-bad.csv"), "--load-valid"], env=e)
    assert partial.exit_code == 0 and "已跳过 16 行" in partial.stdout

    missing = runner.invoke(main, ["members", "import", "nope.csv"], env=e)
    assert missing.exit_code == 2 and "找不到文件" in missing.stderr
    no_key = runner.invoke(main, ["members", "import", str(ROSTER)], env=env(database_url, key=""))
    assert (
        no_key.exit_code == 2
        and "PARTYBOT_DATA_KEY" in no_key.stderr
        and len(no_key.stderr.splitlines()) == 1
    )
    no_column = tmp_path / "x.csv"
    no_column.write_text("编号,姓名\nWG-9,某\n", encoding="utf-8")
    wrong = runner.invoke(main, ["staff", "import", str(no_column)], env=e)
    assert wrong.exit_code == 2 and "角色、所在组织" in wrong.stderr


def test_prune_on_the_command_line_lists_and_asks_first(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    e = env(database_url)
    assert runner.invoke(main, ["org", "import", str(ORG)], env=e).exit_code == 0
    assert runner.invoke(main, ["staff", "import", str(STAFF)], env=e).exit_code == 0
    one = edited(tmp_path, STAFF, "s.csv", lambda lines: lines[:2])

    no = runner.invoke(main, ["staff", "import", str(one), "--prune"], env=e, input="n\n")
    assert no.exit_code == 1 and "WG-02 蒋雪" in no.stdout and message("report.prune_cancelled") in no.stdout
    assert asyncio.run(_count(database_url, Staff, active=True)) == 2

    yes = runner.invoke(main, ["staff", "import", str(one), "--prune", "--yes"], env=e)
    assert yes.exit_code == 0 and "WG-02 蒋雪" in yes.stdout
    assert asyncio.run(_count(database_url, Staff, active=True)) == 1


def test_admin_add_and_keygen(database_url: str) -> None:
    runner = CliRunner()
    e = env(database_url)
    added = runner.invoke(main, ["admin", "add", "--name", "王书记", "--openid", "o-admin"], env=e)
    assert added.exit_code == 0 and added.stdout.strip() == message("admin_added", name="王书记", id=1)
    second = runner.invoke(main, ["admin", "add", "--name", "李主任"], env=e)
    assert second.exit_code == 0 and "id 2" in second.stdout
    taken = runner.invoke(main, ["admin", "add", "--name", "张三", "--openid", "o-admin"], env=e)
    assert taken.exit_code == 2 and "o-admin" in taken.stderr
    assert asyncio.run(_count(database_url, Admin)) == 2

    key = runner.invoke(main, ["keygen"], env={"PARTYBOT_DATA_KEY": ""})
    assert key.exit_code == 0
    assert check_key(key.stdout.strip()) and len(key.stdout.splitlines()) == 1
    assert "PARTYBOT_DATA_KEY" in key.stderr and len(key.stderr.splitlines()) == 1
    assert runner.invoke(main, ["keygen"]).stdout != key.stdout


async def test_a_branch_may_keep_its_theme_day_on_a_holiday(db: Database, tmp_path: Path) -> None:
    """`每月1日（节假日不顺延）`: accepted by the import, stored as written, and the day stays on 元旦."""
    from datetime import date

    from bot.domain.calendar import Holidays
    from bot.domain.theme_day import planned_day

    org = edited(
        tmp_path,
        ORG,
        "org.csv",
        lambda lines: [
            line.replace("网格党支部,每月25日", "网格党支部,每月1日（节假日不顺延）") for line in lines
        ],
    )
    report = await import_org(db, org, now=NOW)
    assert report.written and report.errors == []
    units = {u.path: u for u in await load_all(db, OrgUnit)}
    rule = units[G1].theme_day_rule
    assert rule == "每月1日(节假日不顺延)"
    holidays = Holidays.load()
    assert planned_day(rule, 2027, 1, holidays)[0] == date(2027, 1, 1)  # kept on the holiday
    # Without the setting it moves to the next day that is not a holiday (a Saturday: weekends do not move).
    assert planned_day("每月1日", 2027, 1, holidays)[0] == date(2027, 1, 2)
