"""The columns of each kind of file, the header names and aliases they are known by, and finding them in a
table's header (`map_header`, `locate_header`); `Issue` is an error or warning about a row or the file."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from bot.domain.importing.messages import ImportFailed, message
from bot.domain.importing.reader import Table, TableRow

ImportKind = Literal["org", "members", "staff", "dues"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the canonical header (README)
    required: bool = False
    aliases: tuple[str, ...] = ()


_NUMBER_ALIASES = ("党员编号", "工号", "人员编号", "序列号")
_PHONE_ALIASES = ("手机号", "手机号码", "联系电话", "电话", "电话号码", "联系方式", "移动电话")
_NAME_ALIASES = ("名字", "党员姓名")
_UNIT_ALIASES = ("组织", "所在支部", "所属组织", "所在党组织", "所属党组织", "所属支部", "党组织")

COLUMNS: dict[ImportKind, tuple[Column, ...]] = {
    "org": (
        Column("组织路径", True, ("路径", "组织", "组织全称", "党组织路径")),
        Column("类型", True, ("组织类型", "层级", "组织层级")),
        Column("主题党日", False, ("主题党日时间", "党日", "固定主题党日")),
        Column("覆盖楼栋", False, ("楼栋", "负责楼栋", "包含楼栋", "覆盖范围")),
    ),
    "members": (
        Column("编号", True, _NUMBER_ALIASES),
        Column("姓名", True, _NAME_ALIASES),
        Column("性别", False),
        Column("出生年月", False, ("出生日期", "出生年月日", "生日")),
        Column("手机", False, _PHONE_ALIASES),
        Column("状态", True, ("党员状态", "党籍状态")),
        Column("入党日期", False, ("入党时间",)),
        Column("人员类型", True, ("类型", "党员类型", "人员类别", "党员类别")),
        Column("职务", False, ("党内职务",)),
        Column("所在组织", True, (*_UNIT_ALIASES, "组织路径")),
        Column("楼栋", False, ("楼号", "楼栋号")),
        Column("门牌", False, ("门牌号", "房号", "单元门牌")),
        Column("特长", False, ("专长",)),
        Column("岗位", False, ("志愿岗位", "设岗定责", "认领岗位", "志愿服务岗位")),
        Column("语音模式", False, ("语音", "语音通知", "语音播报")),
        Column("帮扶人编号", False, ("帮扶编号", "结对帮扶人编号", "联系人编号")),
        Column("党费基数", False, ("缴费基数", "党费缴纳基数")),
        Column("流动去向", False, ("去向", "流出地", "外出去向", "流动地点")),
    ),
    # 党费 bank statements (`partybot dues import`): 编号 or 姓名 (bot.domain.dues_import checks for one).
    "dues": (
        Column("编号", False, _NUMBER_ALIASES),
        Column("姓名", False, (*_NAME_ALIASES, "户名", "付款人", "付款人名称", "对方户名", "交款人")),
        Column("月份", True, ("所属月份", "党费月份", "缴费月份", "交纳月份", "缴纳月份", "月度")),
        Column("金额", True, ("交易金额", "缴费金额", "党费金额", "收入金额", "贷方金额", "交纳金额")),
        Column("日期", False, ("交易日期", "缴费日期", "交纳日期", "记账日期", "到账日期")),
        Column("备注", False, ("摘要", "附言", "用途", "说明")),
    ),
    "staff": (
        Column("编号", True, (*_NUMBER_ALIASES, "网格员编号")),
        Column("姓名", True, _NAME_ALIASES),
        Column("手机", False, _PHONE_ALIASES),
        Column("角色", True, ("身份", "人员角色", "职务", "岗位")),
        Column("所在组织", True, (*_UNIT_ALIASES, "所在网格", "网格")),
    ),
}

# Headers that hold national ID numbers: refused whatever the file calls them.
_ID_HEADER_PARTS = ("身份证", "证件号", "身份号码", "公民身份")


def _normalize_header(text: str) -> str:
    """`＊手机号码 （必填）` → `手机号码`: full-width forms, spaces, required-marks and a trailing note go."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", "", text).strip("*")
    return re.sub(r"\([^()]*\)$", "", text)


def header_aliases(kind: ImportKind) -> dict[str, str]:
    """Every header a file may use for this kind, normalized, → the canonical column."""
    table: dict[str, str] = {}
    for column in COLUMNS[kind]:
        for name in (column.name, *column.aliases):
            table[_normalize_header(name)] = column.name
    return table


@dataclass(frozen=True, slots=True)
class Issue:
    """An error or a warning, with the row as the spreadsheet shows it (None: the whole file)."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        if self.row is None:
            return self.message
        if self.column:
            return message("report.issue_row_column", row=self.row, column=self.column, message=self.message)
        return message("report.issue_row", row=self.row, message=self.message)


@dataclass(frozen=True, slots=True)
class ColumnMap:
    kind: ImportKind
    index: dict[str, int]  # canonical column → cell index
    warnings: tuple[Issue, ...]

    def has(self, column: str) -> bool:
        return column in self.index

    def value(self, row: TableRow, column: str) -> str:
        index = self.index.get(column)
        return "" if index is None else row.cell(index)


def map_header(table: Table, kind: ImportKind) -> ColumnMap:
    """Find the columns by name or alias, in any order. Unknown columns and ID-number columns are ignored
    with a warning; a missing required column raises ImportFailed naming it."""
    aliases = header_aliases(kind)
    index: dict[str, int] = {}
    raw_for: dict[str, str] = {}
    notes: list[Issue] = []
    unknown: list[str] = []
    hr = table.header_row
    for i, raw in enumerate(table.header):
        name = _normalize_header(raw)
        if not name:
            if any(row.cell(i) for row in table.rows):
                notes.append(Issue(hr, None, message("warn.unnamed_column", index=i + 1)))
            continue
        if any(part in name for part in _ID_HEADER_PARTS):
            notes.append(Issue(hr, None, message("warn.id_column", column=raw)))
            continue
        canonical = aliases.get(name)
        if canonical is None:
            unknown.append(raw)
            continue
        if canonical in index:
            # The header spelled exactly as the README wins over an alias; otherwise the first one.
            if name == canonical and _normalize_header(raw_for[canonical]) != canonical:
                notes.append(
                    Issue(hr, None, message("warn.duplicate_column", column=raw, other=raw_for[canonical]))
                )
                index[canonical], raw_for[canonical] = i, raw
            else:
                notes.append(
                    Issue(hr, None, message("warn.duplicate_column", column=raw_for[canonical], other=raw))
                )
            continue
        index[canonical], raw_for[canonical] = i, raw
    if unknown:
        notes.append(Issue(hr, None, message("warn.unknown_columns", columns="、".join(unknown))))
    missing = [c.name for c in COLUMNS[kind] if c.required and c.name not in index]
    if missing:
        raise ImportFailed(message("file.missing_columns", columns="、".join(missing), row=hr))
    return ColumnMap(kind=kind, index=index, warnings=tuple(notes))


_TITLE_ROWS = 5  # how far below the first row a header is looked for


def locate_header(table: Table, kind: ImportKind) -> tuple[Table, ColumnMap]:
    """The table with its real header: offices often put a title row (`银杏社区党员台账`) or a note above
    it. The first row is the header unless it lacks required columns and one of the next few rows has them."""
    try:
        return table, map_header(table, kind)
    except ImportFailed as first_error:
        for k, row in enumerate(table.rows[:_TITLE_ROWS]):
            candidate = Table(table.source, row.cells, table.rows[k + 1 :], header_row=row.number)
            try:
                return candidate, map_header(candidate, kind)
            except ImportFailed:
                continue
        raise first_error
