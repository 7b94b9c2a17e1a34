"""Spreadsheet import (导入): the organisation tree, the member ledger (党员台账) and grid workers (网格员),
from the CSV or XLSX files a community office keeps (formats: shared/data/README.md).

`read_table` reads a file into rows numbered as the spreadsheet shows them; `map_header` finds the columns by
their Chinese names or aliases; each row is checked on its own, then against the database (unit paths,
helpers), compared with what is stored, and applied, all in ONE transaction: nothing is written when any
row is wrong, unless the caller asks for the valid rows only (`load_valid`). Entries are matched by 编号
(the organisation tree by 组织路径), so importing the same file again changes nothing; entries missing from
the file are only reported unless `prune` is asked for. National ID numbers are never read or stored (PIPL;
DOMAIN.md). Every message a secretary reads comes from content/import.yaml.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.content import ContentError, default_content_dir
from bot.domain.places import sync_places
from bot.domain.privacy import Vault, normalize_phone
from models.db import Database
from models.org import Binding, Member, OrgUnit, Staff, UnitKind

ImportKind = Literal["org", "members", "staff"]
Progress = Callable[[int, int], None]
"""Called as progress(rows_done, rows_total) while rows are checked against the database."""

T = TypeVar("T")

# --- messages (content/import.yaml) ---------------------------------------------------------------


@cache
def _texts() -> dict[str, Any]:
    path = default_content_dir() / "import.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ContentError(f"{path} must be a mapping")
    return doc


def message(key: str, /, **values: object) -> str:
    """A text from content/import.yaml by dotted key (`row.phone`), formatted with values."""
    node: Any = _texts()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ContentError(f"content/import.yaml has no text {key!r}")
        node = node[part]
    if not isinstance(node, str):
        raise ContentError(f"content/import.yaml: {key!r} is not a text")
    return node.format(**values) if values else node


class ImportFailed(Exception):
    """The file cannot be imported at all: unreadable, not CSV/XLSX, a required column missing, or phones
    without a data key. The message (Chinese, one line) says why; nothing was written."""


# --- reading a file -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableRow:
    number: int  # as the spreadsheet shows it: the header is row 1
    cells: tuple[str, ...]

    def cell(self, index: int) -> str:
        return self.cells[index] if index < len(self.cells) else ""


@dataclass(frozen=True, slots=True)
class Table:
    """One sheet: its header cells and its non-blank rows, every cell as trimmed text."""

    source: str  # the file's name, for messages
    header: tuple[str, ...]
    rows: tuple[TableRow, ...]
    header_row: int = 1


_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the pre-2007 .xls container


def _clean(text: str) -> str:
    return text.replace("\u200b", "").replace("\ufeff", "").strip()


def read_table(path: str | Path) -> Table:
    """Read a CSV (UTF-8 with or without BOM, GBK/GB18030, or Excel's UTF-16 "Unicode text") or the first
    sheet of an XLSX file. The first non-blank row is the header; blank rows are skipped, row numbers kept."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ImportFailed(message("file.not_found", file=path)) from exc
    except OSError as exc:
        raise ImportFailed(message("file.unreadable", file=path, reason=exc.strerror or exc)) from exc
    if data.startswith(_XLSX_MAGIC):
        records = _xlsx_records(data, path)
    elif data.startswith(_OLE_MAGIC):
        raise ImportFailed(message("file.old_xls"))
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        raise ImportFailed(message("file.bad_xlsx", file=path.name, reason="not a zip archive"))
    else:
        records = _csv_records(data, path)
    return _table(records, path.name)


def _decode(data: bytes, path: Path) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ImportFailed(message("file.encoding", file=path.name)) from exc
    # Excel on Chinese Windows writes GBK; GB18030 is its superset and decodes it all.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFailed(message("file.encoding", file=path.name))


def _csv_records(data: bytes, path: Path) -> list[list[str]]:
    text = _decode(data, path)
    if "\x00" in text:
        raise ImportFailed(message("file.bad_csv", file=path.name, reason="binary content (NUL bytes)"))
    first = next((line for line in text.splitlines() if line.strip()), "")
    # Comma normally; Excel's "Unicode text" export uses tabs, some locales semicolons.
    delimiter = max((",", "\t", ";"), key=lambda d: (first.count(d), d == ","))
    try:
        return [list(record) for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise ImportFailed(message("file.bad_csv", file=path.name, reason=exc)) from exc


def _cell_text(value: object) -> str:
    """An XLSX cell as the text a secretary sees: phones typed as numbers lose no digits, dates are ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return _clean(str(value))


def _xlsx_records(data: bytes, path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    records: list[list[str]] = []
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it does not read; they do not matter here.
            warnings.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                if workbook.worksheets:
                    sheet = workbook.worksheets[0]
                    # Some programs write a wrong <dimension>; read what is really there.
                    sheet.reset_dimensions()
                    for values in sheet.iter_rows(values_only=True):
                        records.append([_cell_text(v) for v in values])
            finally:
                workbook.close()
    except ImportFailed:
        raise
    except Exception as exc:  # a damaged or foreign file: openpyxl raises many kinds
        raise ImportFailed(message("file.bad_xlsx", file=path.name, reason=exc)) from exc
    return records


def _table(records: list[list[str]], source: str) -> Table:
    cleaned = [[_clean(cell) for cell in record] for record in records]
    header_index = next((i for i, record in enumerate(cleaned) if any(record)), None)
    if header_index is None:
        raise ImportFailed(message("file.empty", file=source))
    rows = tuple(
        TableRow(number=i + 1, cells=tuple(record))
        for i, record in enumerate(cleaned)
        if i > header_index and any(record)
    )
    return Table(source=source, header=tuple(cleaned[header_index]), rows=rows, header_row=header_index + 1)


# --- columns --------------------------------------------------------------------------------------


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


# --- values ---------------------------------------------------------------------------------------


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _choices(canonical: Iterable[str], **aliases: str) -> dict[str, str]:
    table = {value: value for value in canonical}
    table.update(aliases)
    return table


STATUSES = _choices(("正式", "预备"), 正式党员="正式", 预备党员="预备")
MEMBER_KINDS = _choices(
    ("在职", "离退休", "流动", "两新", "学生", "无业", "农民"),
    下岗="无业",
    退休="离退休",
    离休="离退休",
    在职党员="在职",
    流动党员="流动",
    离退休党员="离退休",
)
POSTS = _choices(
    ("书记", "副书记", "委员", "组长"),
    支部书记="书记",
    党委书记="书记",
    总支书记="书记",
    支部副书记="副书记",
    支委="委员",
    支部委员="委员",
    党小组长="组长",
    党小组组长="组长",
    小组长="组长",
)
GENDERS = _choices(("男", "女"), 男性="男", 女性="女")
VOICE_MODES: dict[str, bool] = {"是": True, "否": False, "开": True, "关": False}
ROLES = _choices(("网格员",), 专职网格员="网格员")
UNIT_KINDS = _choices(
    (k.value for k in UnitKind), 社区党总支="社区党委", 党支部="网格党支部", 党小组="楼栋党小组"
)
_KIND_RANK = {k.value: rank for rank, k in enumerate(UnitKind)}

_LIST_SPLIT = re.compile(r"[;；,，、\n]+")


def split_list(text: str) -> list[str]:
    """`1号楼;2号楼；3号楼` → ['1号楼', '2号楼', '3号楼'] (also ，、), without blanks or repeats."""
    items = [_clean(item) for item in _LIST_SPLIT.split(text)]
    return list(dict.fromkeys(item for item in items if item))


def normalize_path(text: str) -> str | None:
    """A unit path with its levels trimmed (`／` accepted for `/`), or None when a level is empty."""
    text = text.replace("／", "/").strip().strip("/")
    parts = [part.strip() for part in text.split("/")]
    if not text or any(not part for part in parts):
        return None
    return "/".join(parts)


_ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def looks_like_id_number(text: str) -> bool:
    """True when text holds an 18-character resident ID number with a valid check digit (GB 11643)."""
    for found in _ID_NUMBER.findall(_nfkc(text)):
        total = sum(int(d) * w for d, w in zip(found[:17], _ID_WEIGHTS, strict=True))
        if "10X98765432"[total % 11] == found[17].upper():
            return True
    return False


def _date_parts(text: str) -> tuple[int, int, int | None] | None:
    """`1958-03`, `1958/3/1`, `1958.03.01`, `1958年3月1日`, `19580301` → (1958, 3, 1 or None)."""
    v = re.sub(r"\s+", "", _nfkc(text))
    v = v.replace("年", "-").replace("月", "-").replace("日", "").replace("号", "")
    v = v.replace("/", "-").replace(".", "-").rstrip("-")
    m = re.fullmatch(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?", v) or re.fullmatch(r"(\d{4})(\d{2})(\d{2})?", v)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None


def parse_amount_fen(text: str) -> int:
    """Yuan (`4200`, `5,000.01`, `4200元`) → fen. Raises ValueError with the content key of the reason."""
    v = re.sub(r"[\s,元¥]", "", _nfkc(text))
    try:
        amount = Decimal(v)
    except InvalidOperation as exc:
        raise ValueError("row.amount") from exc
    if not amount.is_finite():
        raise ValueError("row.amount")
    if amount < 0:
        raise ValueError("row.amount_negative")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError("row.amount_decimals")
    if amount > 1_000_000:
        raise ValueError("row.amount_too_large")
    return int(fen)


# --- 主题党日 rules -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThemeDayRule:
    """主题党日: the branch's fixed monthly day, parsed from its text (which is what is stored)."""

    kind: Literal["day", "nth_weekday", "last_weekday", "last_workday"]
    day: int | None = None  # 1–31 for "day"
    nth: int | None = None  # 1–4 for "nth_weekday"
    weekday: int | None = None  # 0 = Monday … 6 = Sunday


_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_WEEKDAYS.update({str(n): n - 1 for n in range(1, 8)})
_WEEK = r"(?:星期|周|礼拜)([一二三四五六日天七1-7])"


def _small_number(text: str) -> int | None:
    """`25`, `二十五`, `廿五`, `十`, `五` → int (1–39); None otherwise."""
    if re.fullmatch(r"[0-9]{1,2}", text):
        return int(text)
    text = text.replace("廿", "二十").replace("卅", "三十")
    m = re.fullmatch(r"([一二三四五六七八九])?(十)?([一二三四五六七八九])?", text)
    if not text or m is None:
        return None
    tens, ten, ones = m.groups()
    if ten:
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    return _CN_DIGITS[tens] if tens and not ones else None


def parse_theme_day(text: str) -> ThemeDayRule | None:
    """`每月25日`, `每月第一个星期五`, `每月最后一个星期五`, `每月最后一个工作日` → the rule, or None."""
    v = re.sub(r"\s+", "", _nfkc(text))
    if re.fullmatch(r"每月最后一个?工作日", v):
        return ThemeDayRule("last_workday")
    if m := re.fullmatch(r"每月最后一个?" + _WEEK, v):
        return ThemeDayRule("last_weekday", weekday=_WEEKDAYS[m.group(1)])
    if m := re.fullmatch(r"每月第([1-4一二三四两])个?" + _WEEK, v):
        nth = _small_number(m.group(1)) if m.group(1) != "两" else 2
        return ThemeDayRule("nth_weekday", nth=nth, weekday=_WEEKDAYS[m.group(2)])
    if m := re.fullmatch(r"每月([0-9]{1,2}|[一二三四五六七八九十廿卅]{1,3})[日号]", v):
        day = _small_number(m.group(1))
        if day is not None and 1 <= day <= 31:
            return ThemeDayRule("day", day=day)
    return None


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry the import adds, changes or reports: 编号 (or 组织路径) and a name (or the unit's kind)."""

    key: str
    name: str
    row: int | None = None
    fields: tuple[str, ...] = ()  # the columns that change (or, for `kept`, that were not overwritten)


@dataclass(slots=True)
class ImportReport:
    kind: ImportKind
    source: str
    rows: int = 0
    dry_run: bool = False
    load_valid: bool = False
    prune: bool = False
    written: bool = False  # the transaction committed (never for a dry run or when errors blocked it)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    added: list[Entry] = field(default_factory=list)
    updated: list[Entry] = field(default_factory=list)
    reactivated: list[Entry] = field(default_factory=list)
    unchanged: list[Entry] = field(default_factory=list)
    # Members' own chat preferences (Member.chat_preferences) that the file did not overwrite.
    kept: list[Entry] = field(default_factory=list)
    missing: list[Entry] = field(default_factory=list)  # active in the database, not in the file
    deactivated: list[Entry] = field(default_factory=list)  # with prune: deactivated (or would be, dry run)
    unbound: int = 0  # WeChat bindings removed with the deactivated
    skipped_rows: list[int] = field(default_factory=list)  # rows with errors, not loaded

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def blocked(self) -> bool:
        """Errors stopped the import: nothing was (or, in a dry run, would be) written."""
        return bool(self.errors) and not self.load_valid

    @property
    def changes(self) -> int:
        return len(self.added) + len(self.updated) + len(self.reactivated) + len(self.deactivated)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "reactivated": len(self.reactivated),
            "deactivated": len(self.deactivated),
            "unchanged": len(self.unchanged),
            "missing": len(self.missing),
            "skipped": len(self.skipped_rows),
        }

    def summary(self) -> str:
        """The last line: what happened, in one sentence."""
        if self.blocked:
            key = "report.blocked_dry_run" if self.dry_run else "report.blocked"
            return message(key, count=len(self.errors))
        if self.dry_run:
            return message("report.dry_run", **self.counts())
        if not self.changes and not self.skipped_rows:
            return message("report.no_change", unchanged=len(self.unchanged))
        line = message("report.done", **self.counts())
        if self.skipped_rows:
            line = message("report.done_partial", skipped=len(self.skipped_rows)) + line
        return line

    def lines(self, *, list_added: int = 50) -> list[str]:
        """The whole report as a secretary reads it: warnings, errors, the changes, and the summary."""
        title = "report.title_dry_run" if self.dry_run else "report.title"
        out = [message(title, kind=message(f"kinds.{self.kind}"), file=self.source, rows=self.rows)]
        if self.warnings:
            out.append(message("report.warnings", count=len(self.warnings)))
            out += [f"  {issue}" for issue in self.warnings]
        if self.errors:
            out.append(message("report.errors", count=len(self.errors)))
            out += [f"  {issue}" for issue in self.errors]
        if not self.blocked or self.dry_run:
            if self.added and (self.dry_run or len(self.added) <= list_added):
                out.append(message("report.added", count=len(self.added)))
                out += [_entry_line(e) for e in self.added]
            for key, entries in (
                ("report.updated", self.updated),
                ("report.reactivated", self.reactivated),
                ("report.kept", self.kept),
            ):
                if entries:
                    out.append(message(key, count=len(entries)))
                    out += [_entry_line(e) for e in entries]
            if self.prune and self.deactivated:
                key = "report.deactivated_dry_run" if self.dry_run else "report.deactivated"
                out.append(message(key, count=len(self.deactivated)))
                out += [_entry_line(e) for e in self.deactivated]
                if self.unbound:
                    out.append(message("report.unbound", count=self.unbound))
            elif self.missing:
                out.append(message("report.missing", count=len(self.missing)))
                out += [_entry_line(e) for e in self.missing]
                out.append(message("report.missing_hint"))
        out.append(self.summary())
        return out


def _entry_line(entry: Entry) -> str:
    if entry.fields:
        fields = message("report.field_separator").join(entry.fields)
        return message("report.entry_fields", key=entry.key, name=entry.name, fields=fields)
    return message("report.entry", key=entry.key, name=entry.name)


# --- checking one row (no database) ---------------------------------------------------------------


class _RowReader:
    """One row's values by canonical column; collects the row's errors and warnings."""

    def __init__(self, row: TableRow, columns: ColumnMap, report: ImportReport) -> None:
        self.row, self.columns, self.report = row, columns, report
        self.ok = True

    def error(self, column: str | None, key: str, **values: object) -> None:
        self.ok = False
        self.report.errors.append(Issue(self.row.number, column, message(key, **values)))

    def warn(self, column: str | None, key: str, **values: object) -> None:
        self.report.warnings.append(Issue(self.row.number, column, message(key, **values)))

    def has(self, column: str) -> bool:
        return self.columns.has(column)

    def raw(self, column: str, *, required: bool = False, limit: int | None = None) -> str | None:
        """The cell's text; None when blank (an error if required), too long, or an ID number."""
        value = self.columns.value(self.row, column)
        if not value:
            if required:
                self.error(column, "row.required")
            return None
        if looks_like_id_number(value):
            self.error(column, "row.id_number_key" if column in ("编号", "帮扶人编号") else "row.id_number")
            return None
        if limit is not None and len(value) > limit:
            self.error(column, "row.too_long", value=value[:20] + "…", limit=limit)
            return None
        return value

    def key(self, column: str) -> str | None:
        """编号 / 帮扶人编号: full-width letters and digits made plain (`ＹＸ－００１` → `YX-001`)."""
        value = self.raw(column, required=column == "编号", limit=50)
        return _nfkc(value) if value else None

    def choice(self, column: str, allowed: dict[str, str], *, required: bool = False) -> str | None:
        value = self.raw(column, required=required)
        if value is None:
            return None
        found = allowed.get(re.sub(r"\s+", "", _nfkc(value)))
        if found is None:
            shown = "、".join(dict.fromkeys(allowed.values()))
            self.error(column, "row.choice", value=value, allowed=shown)
        return found

    def phone(self) -> str | None:
        value = self.raw("手机")
        if value is None:
            return None
        v = _nfkc(value)
        if re.fullmatch(r"[0-9](\.[0-9]+)?[eE]\+?[0-9]+", v):
            self.error("手机", "row.phone_scientific")
            return None
        phone = normalize_phone(v)
        if phone is None:
            self.error("手机", "row.phone")  # the value is not repeated: it is personal data
        return phone

    def date(self, column: str, *, day_required: bool, latest: date, earliest_year: int) -> date | None:
        value = self.raw(column)
        if value is None:
            return None
        parts = _date_parts(value)
        if parts is None or (day_required and parts[2] is None):
            self.error(column, "row.join_format" if day_required else "row.birth_format", value=value)
            return None
        year, month, day = parts
        try:
            found = date(year, month, day or 1)
        except ValueError:
            self.error(column, "row.not_a_date", value=value)
            return None
        if year < earliest_year:
            self.error(column, "row.year_range", value=value)
            return None
        if found > latest:
            self.error(column, "row.future_date", value=value)
            return None
        return found

    def path(self, column: str, *, required: bool = True) -> str | None:
        value = self.raw(column, required=required, limit=500)
        if value is None:
            return None
        path = normalize_path(value)
        if path is None:
            self.error(column, "row.path_empty_level", value=value)
        return path


def _parse_rows(
    table: Table, columns: ColumnMap, report: ImportReport, parse: Callable[[_RowReader], T | None]
) -> list[tuple[_RowReader, T]]:
    parsed: list[tuple[_RowReader, T]] = []
    for row in table.rows:
        reader = _RowReader(row, columns, report)
        item = parse(reader)
        if item is not None:
            parsed.append((reader, item))
    return parsed


def _duplicates(parsed: Sequence[tuple[_RowReader, Any]], key: Callable[[Any], str], column: str) -> None:
    rows_by_key: dict[str, list[_RowReader]] = {}
    for reader, item in parsed:
        rows_by_key.setdefault(key(item), []).append(reader)
    for value, readers in rows_by_key.items():
        if len(readers) > 1:
            rows = "、".join(str(r.row.number) for r in readers)
            for reader in readers:
                reader.error(column, "row.duplicate_key", value=value, rows=rows)


# --- the organisation tree ------------------------------------------------------------------------


@dataclass(slots=True)
class _OrgRow:
    path: str
    kind: str | None
    fields: dict[str, Any]  # theme_day_rule, buildings: only for columns the file has


_ORG_LABELS = {"kind": "类型", "theme_day_rule": "主题党日", "buildings": "覆盖楼栋", "path": "组织路径"}


def _parse_org(r: _RowReader) -> _OrgRow | None:
    path = r.path("组织路径")
    kind = r.choice("类型", UNIT_KINDS, required=True)
    fields: dict[str, Any] = {}
    if path is not None and any(len(part) > 100 for part in path.split("/")):
        r.error("组织路径", "row.too_long", value=path[:20] + "…", limit=100)
    if r.has("主题党日"):
        text = r.raw("主题党日", limit=50)
        rule = parse_theme_day(text) if text else None
        if text is not None and rule is None:
            fifth = re.search(r"第(5|五)个", _nfkc(text))
            r.error("主题党日", "row.theme_day_fifth" if fifth else "row.theme_day", value=text)
        elif rule is not None and rule.day is not None and rule.day > 28:
            r.warn("主题党日", "warn.theme_day_short_month", day=rule.day)
        fields["theme_day_rule"] = re.sub(r"\s+", "", _nfkc(text)) if text else None
    if r.has("覆盖楼栋"):
        text = r.raw("覆盖楼栋", limit=2000)
        fields["buildings"] = split_list(text) if text else []
    return _OrgRow(path=path, kind=kind, fields=fields) if path is not None else None


def _plan_and_apply_org(
    session: Session,
    parsed: list[tuple[_RowReader, _OrgRow]],
    report: ImportReport,
    *,
    now: datetime,
    apply: Callable[[], bool],
    progress: Progress | None,
) -> None:
    units = list(session.scalars(select(OrgUnit)))
    by_path = {u.path: u for u in units}
    path_by_id = {u.id: u.path for u in units}
    in_file = {item.path: (reader, item) for reader, item in parsed}

    # Parents and kinds, shallow rows first so a bad parent makes its children bad in turn.
    ordered = sorted(parsed, key=lambda pair: pair[1].path.count("/"))
    total = len(ordered)
    for done, (reader, item) in enumerate(ordered, start=1):
        if progress is not None:
            progress(done, total)
        if "/" not in item.path:
            continue
        parent = item.path.rsplit("/", 1)[0]
        parent_kind: str | None
        if parent in in_file:
            parent_reader, parent_item = in_file[parent]
            existing = by_path.get(parent)
            if not parent_reader.ok and (existing is None or not existing.active):
                reader.error("组织路径", "row.parent_bad", parent=parent, parent_row=parent_reader.row.number)
                continue
            # A parent whose own row is wrong (load_valid) stays as the database has it.
            parent_kind = parent_item.kind if parent_reader.ok else existing.kind if existing else None
        elif parent in by_path:
            if not by_path[parent].active:
                reader.error("组织路径", "row.parent_inactive", parent=parent)
                continue
            parent_kind = by_path[parent].kind
        else:
            reader.error("组织路径", "row.parent_missing", parent=parent)
            continue
        if (
            item.kind is not None
            and parent_kind in _KIND_RANK
            and _KIND_RANK[item.kind] <= _KIND_RANK[parent_kind]
        ):
            reader.error("类型", "row.kind_order", kind=item.kind, parent_kind=parent_kind, parent=parent)

    good = [(reader, item) for reader, item in ordered if reader.ok]
    report.skipped_rows = sorted(reader.row.number for reader, _ in parsed if not reader.ok)
    for reader, item in good:
        assert item.kind is not None
        unit = by_path.get(item.path)
        entry_name = item.kind
        if unit is None:
            report.added.append(Entry(item.path, entry_name, reader.row.number))
            continue
        desired = _org_desired(item)
        current = {
            "path": (unit.name, unit.depth, path_by_id.get(unit.parent_id) if unit.parent_id else None),
            "kind": unit.kind,
            "theme_day_rule": unit.theme_day_rule,
            "buildings": list(unit.buildings or []),
        }
        changed = tuple(_ORG_LABELS[k] for k, v in desired.items() if current[k] != v)
        entry = Entry(item.path, entry_name, reader.row.number, changed)
        if not unit.active:
            report.reactivated.append(entry)
        elif changed:
            report.updated.append(entry)
        else:
            report.unchanged.append(entry)

    # Missing: active units the file does not name, except the ancestors of units it does name.
    named = set(in_file)
    ancestors = {p.rsplit("/", i)[0] for p in named for i in range(1, p.count("/") + 1)}
    missing = [u for u in units if u.active and u.path not in named and u.path not in ancestors]
    report.missing = [Entry(u.path, u.kind) for u in sorted(missing, key=lambda u: u.path)]
    if report.prune:
        report.deactivated = list(report.missing)
        if missing:
            _warn_units_in_use(session, missing, report)

    if not apply():
        return
    touched = {e.key for e in (*report.added, *report.updated, *report.reactivated)}
    depth_of: dict[int, list[_OrgRow]] = {}
    for _, item in good:
        if item.path in touched:
            depth_of.setdefault(item.path.count("/"), []).append(item)
    for depth in sorted(depth_of):
        for item in depth_of[depth]:
            parent_unit = by_path[item.path.rsplit("/", 1)[0]] if depth else None
            desired = _org_desired(item)
            unit = by_path.get(item.path)
            if unit is None:
                unit = OrgUnit(
                    path=item.path,
                    buildings=[],
                    theme_day_rule=None,
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(unit)
                by_path[item.path] = unit
            unit.name = item.path.rsplit("/", 1)[-1]
            unit.depth = depth
            unit.parent_id = parent_unit.id if parent_unit is not None else None
            unit.kind = desired["kind"]
            if "theme_day_rule" in desired:
                unit.theme_day_rule = desired["theme_day_rule"]
            if "buildings" in desired:
                unit.buildings = desired["buildings"]
            unit.active = True
            unit.updated_at = now
        session.flush()  # the next depth needs these ids
    if report.prune:
        for unit in missing:
            unit.active = False
            unit.updated_at = now


def _org_desired(item: _OrgRow) -> dict[str, Any]:
    name = item.path.rsplit("/", 1)[-1]
    parent = item.path.rsplit("/", 1)[0] if "/" in item.path else None
    return {"path": (name, item.path.count("/"), parent), "kind": item.kind, **item.fields}


def _warn_units_in_use(session: Session, units: list[OrgUnit], report: ImportReport) -> None:
    ids = [u.id for u in units]
    counts: dict[int, int] = {}
    for model in (Member, Staff):
        for chunk in _chunks(ids):
            rows = session.execute(
                select(model.unit_id, func.count())
                .where(model.unit_id.in_(chunk), model.active.is_(True))
                .group_by(model.unit_id)
            )
            for unit_id, count in rows:
                counts[unit_id] = counts.get(unit_id, 0) + int(count)
    for unit in units:
        if counts.get(unit.id):
            report.warnings.append(
                Issue(None, None, message("warn.pruned_unit_in_use", path=unit.path, count=counts[unit.id]))
            )


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- units, phones and bindings shared by members and staff ---------------------------------------


class _Units:
    def __init__(self, session: Session) -> None:
        units = list(session.scalars(select(OrgUnit)))
        self.by_path = {u.path: u for u in units}
        self.path_by_id = {u.id: u.path for u in units}
        self.by_name: dict[str, list[OrgUnit]] = {}
        for u in units:
            if u.active:
                self.by_name.setdefault(u.name, []).append(u)

    def resolve(self, reader: _RowReader, path: str) -> OrgUnit | None:
        """The active unit at path; a bare name is accepted when exactly one active unit has it."""
        unit = self.by_path.get(path)
        if unit is None and "/" not in path:
            same = self.by_name.get(path, [])
            if len(same) > 1:
                reader.error("所在组织", "row.unit_ambiguous", value=path)
                return None
            if len(same) == 1:
                reader.warn("所在组织", "warn.unit_by_name", value=path, path=same[0].path)
                return same[0]
        if unit is None:
            reader.error("所在组织", "row.unit_unknown", value=path)
            return None
        if not unit.active:
            reader.error("所在组织", "row.unit_inactive", value=path)
            return None
        return unit


class _Unreadable:
    """A stored phone that cannot be compared (no key given): always differs from the file."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0


def _stored_phone(vault: Vault | None, phone_enc: str | None) -> object:
    if phone_enc is None:
        return None
    if vault is None:
        return _Unreadable()
    return vault.decrypt_phone(phone_enc)


def _set_phone(obj: Member | Staff, vault: Vault | None, phone: str | None) -> None:
    if phone is not None and vault is None:  # checked before; never store a phone in the clear
        raise ImportFailed(message("file.no_key"))
    obj.phone_enc = vault.encrypt_phone(phone) if vault is not None else None
    obj.phone_tail_mac = vault.phone_tail_mac(phone) if vault is not None else None


def _unbind(session: Session, *, member_ids: Sequence[int] = (), staff_ids: Sequence[int] = ()) -> int:
    """Unbind the WeChat of deactivated people; a binding left with nobody is deleted."""
    count = 0
    for ids, attr in ((member_ids, "member_id"), (staff_ids, "staff_id")):
        column = Binding.member_id if attr == "member_id" else Binding.staff_id
        for chunk in _chunks(ids):
            for binding in session.scalars(select(Binding).where(column.in_(chunk))):
                setattr(binding, attr, None)
                count += 1
                if binding.member_id is None and binding.staff_id is None:
                    session.delete(binding)
    session.flush()
    return count


def _needs_key(parsed: Iterable[tuple[_RowReader, Any]], vault: Vault | None) -> None:
    if vault is None and any(getattr(item, "fields", {}).get("phone") for _, item in parsed):
        raise ImportFailed(message("file.no_key"))


# --- members --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _MemberRow:
    number: str
    unit: str | None
    fields: dict[str, Any]  # field → value, only for columns the file has (unit and helper resolved later)
    unit_id: int | None = None


# field → the column it comes from; the order is the order changes are listed in.
MEMBER_FIELDS: dict[str, str] = {
    "name": "姓名",
    "gender": "性别",
    "birth": "出生年月",
    "phone": "手机",
    "status": "状态",
    "joined_on": "入党日期",
    "kind": "人员类型",
    "post": "职务",
    "unit": "所在组织",
    "building": "楼栋",
    "door": "门牌",
    "specialty": "特长",
    "volunteer_posts": "岗位",
    "voice_mode": "语音模式",
    "helper": "帮扶人编号",
    "dues_base_fen": "党费基数",
    "mobile_destination": "流动去向",
}
# Member.chat_preferences names model attributes; a few map onto one field here.
_PREFERENCE_FIELDS = {
    "birth_year": "birth",
    "birth_month": "birth",
    "phone_enc": "phone",
    "phone_tail_mac": "phone",
    "unit_id": "unit",
    "helper_id": "helper",
}


def _member_parser(latest: date) -> Callable[[_RowReader], _MemberRow | None]:
    def parse(r: _RowReader) -> _MemberRow | None:
        number = r.key("编号")
        fields: dict[str, Any] = {"name": r.raw("姓名", required=True, limit=50)}
        fields["status"] = r.choice("状态", STATUSES, required=True)
        fields["kind"] = r.choice("人员类型", MEMBER_KINDS, required=True)
        unit = r.path("所在组织")
        if r.has("性别"):
            fields["gender"] = r.choice("性别", GENDERS)
        birth: date | None = None
        if r.has("出生年月"):
            birth = r.date("出生年月", day_required=False, latest=latest, earliest_year=1900)
            fields["birth"] = (birth.year, birth.month) if birth else None
        if r.has("手机"):
            fields["phone"] = r.phone()
        if r.has("入党日期"):
            joined = r.date("入党日期", day_required=True, latest=latest, earliest_year=1921)
            fields["joined_on"] = joined
            if joined is not None and birth is not None:
                months = (joined.year - birth.year) * 12 + joined.month - birth.month
                if months < 0:
                    r.error("入党日期", "row.join_before_birth")
                elif months < 18 * 12:
                    r.warn("入党日期", "warn.young_join")
        if r.has("职务"):
            fields["post"] = r.choice("职务", POSTS)
        for column, attr, limit in (
            ("楼栋", "building", 50),
            ("门牌", "door", 50),
            ("特长", "specialty", 100),
            ("流动去向", "mobile_destination", 100),
        ):
            if r.has(column):
                fields[attr] = r.raw(column, limit=limit)
        if r.has("岗位"):
            text = r.raw("岗位", limit=500)
            fields["volunteer_posts"] = split_list(text) if text else []
        if r.has("语音模式"):
            text = r.raw("语音模式")
            if text is None:
                fields["voice_mode"] = None
            else:
                voice = VOICE_MODES.get(re.sub(r"\s+", "", _nfkc(text)))
                if voice is None:
                    r.error("语音模式", "row.choice", value=text, allowed="是、否")
                fields["voice_mode"] = voice
        if r.has("帮扶人编号"):
            helper = r.key("帮扶人编号")
            if helper is not None and helper == number:
                r.error("帮扶人编号", "row.helper_self")
            fields["helper"] = helper
        if r.has("党费基数"):
            text = r.raw("党费基数")
            fen: int | None = None
            if text is not None:
                try:
                    fen = parse_amount_fen(text)
                except ValueError as exc:
                    r.error("党费基数", str(exc), value=text)
            fields["dues_base_fen"] = fen
        return _MemberRow(number=number, unit=unit, fields=fields) if number is not None else None

    return parse


def _member_current(
    m: Member, vault: Vault | None, path_by_id: dict[int, str], number_by_id: dict[int, str]
) -> dict[str, Any]:
    return {
        "name": m.name,
        "gender": m.gender,
        "birth": (m.birth_year, m.birth_month) if m.birth_year and m.birth_month else None,
        "phone": _stored_phone(vault, m.phone_enc),
        "status": m.status,
        "joined_on": m.joined_on,
        "kind": m.kind,
        "post": m.post,
        "unit": path_by_id.get(m.unit_id),
        "building": m.building,
        "door": m.door,
        "specialty": m.specialty,
        "volunteer_posts": list(m.volunteer_posts or []),
        "voice_mode": m.voice_mode,
        "helper": number_by_id.get(m.helper_id) if m.helper_id is not None else None,
        "dues_base_fen": m.dues_base_fen,
        "mobile_destination": m.mobile_destination,
    }


def _member_set(m: Member, name: str, value: Any, vault: Vault | None, unit_id: int | None) -> None:
    if name == "birth":
        m.birth_year, m.birth_month = value if value else (None, None)
    elif name == "phone":
        _set_phone(m, vault, value)
    elif name == "unit":
        assert unit_id is not None
        m.unit_id = unit_id
    elif name != "helper":  # set once every member has an id
        setattr(m, name, value)


def _preferences(m: Member) -> set[str]:
    return {_PREFERENCE_FIELDS.get(str(p), str(p)) for p in (m.chat_preferences or [])}


def _plan_and_apply_members(
    session: Session,
    parsed: list[tuple[_RowReader, _MemberRow]],
    report: ImportReport,
    *,
    vault: Vault | None,
    now: datetime,
    apply: Callable[[], bool],
    progress: Progress | None,
) -> None:
    units = _Units(session)
    members = list(session.scalars(select(Member)))
    by_number = {m.number: m for m in members}
    number_by_id = {m.id: m.number for m in members}
    file_rows = {item.number: reader for reader, item in parsed}

    total = len(parsed)
    for done, (reader, item) in enumerate(parsed, start=1):
        if progress is not None:
            progress(done, total)
        if item.unit is not None:
            unit = units.resolve(reader, item.unit)
            if unit is not None:
                item.unit_id = unit.id
                item.fields["unit"] = unit.path
        helper = item.fields.get("helper")
        if helper and helper != item.number and helper not in file_rows:
            existing = by_number.get(helper)
            if existing is None:
                reader.error("帮扶人编号", "row.helper_unknown", value=helper)
            elif not existing.active:
                reader.error("帮扶人编号", "row.helper_inactive", value=helper)
            elif report.prune:
                reader.warn("帮扶人编号", "warn.helper_pruned", helper=helper)

    good = [(reader, item) for reader, item in parsed if reader.ok]
    report.skipped_rows = sorted(reader.row.number for reader, _ in parsed if not reader.ok)
    for reader, item in good:
        helper = item.fields.get("helper")
        if not helper or helper not in file_rows or file_rows[helper].ok:
            continue
        existing = by_number.get(helper)
        if existing is None or not existing.active:
            # The helper's own row is wrong and is not loaded (load_valid): no helper for now. A helper
            # already in the database stays linked.
            if report.load_valid:
                reader.warn("帮扶人编号", "warn.helper_dropped", helper=helper)
            item.fields["helper"] = None

    to_write: dict[str, list[str]] = {}  # number → the fields to set (all of them for a new member)
    for reader, item in good:
        m = by_number.get(item.number)
        name = str(item.fields["name"])
        if m is None:
            report.added.append(Entry(item.number, name, reader.row.number))
            to_write[item.number] = list(item.fields)
            continue
        current = _member_current(m, vault, units.path_by_id, number_by_id)
        prefs = _preferences(m)
        changed = [k for k, v in item.fields.items() if k not in prefs and current[k] != v]
        if changed or not m.active:
            to_write[item.number] = changed
        kept = [k for k, v in item.fields.items() if k in prefs and current[k] != v]
        labels = tuple(MEMBER_FIELDS[k] for k in MEMBER_FIELDS if k in changed)
        entry = Entry(item.number, name, reader.row.number, labels)
        if not m.active:
            report.reactivated.append(entry)
        elif labels:
            report.updated.append(entry)
        else:
            report.unchanged.append(entry)
        if kept:
            kept_labels = tuple(MEMBER_FIELDS[k] for k in MEMBER_FIELDS if k in kept)
            report.kept.append(Entry(item.number, name, reader.row.number, kept_labels))

    missing = sorted((m for m in members if m.active and m.number not in file_rows), key=lambda m: m.number)
    report.missing = [Entry(m.number, m.name) for m in missing]
    if report.prune:
        report.deactivated = list(report.missing)
        report.unbound = _count_bindings(session, member_ids=[m.id for m in missing])

    if not apply():
        return
    for _, item in good:
        if item.number not in to_write:
            continue
        m = by_number.get(item.number)
        if m is None:
            m = Member(
                number=item.number,
                volunteer_posts=[],
                chat_preferences=[],
                active=True,
                created_at=now,
                updated_at=now,
            )
            session.add(m)
            by_number[item.number] = m
        for name in to_write[item.number]:
            _member_set(m, name, item.fields[name], vault, item.unit_id)
        m.active = True
        m.updated_at = now
    session.flush()  # ids for new members, so helpers can point at them
    for _, item in good:
        if "helper" in to_write.get(item.number, ()):
            helper = item.fields["helper"]
            by_number[item.number].helper_id = by_number[helper].id if helper else None
    if report.prune and missing:
        for m in missing:
            m.active = False
            m.updated_at = now
        report.unbound = _unbind(session, member_ids=[m.id for m in missing])


def _count_bindings(
    session: Session, *, member_ids: Sequence[int] = (), staff_ids: Sequence[int] = ()
) -> int:
    count = 0
    for ids, column in ((member_ids, Binding.member_id), (staff_ids, Binding.staff_id)):
        for chunk in _chunks(ids):
            count += int(
                session.scalar(select(func.count()).select_from(Binding).where(column.in_(chunk))) or 0
            )
    return count


# --- staff ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _StaffRow:
    number: str
    unit: str | None
    fields: dict[str, Any]
    unit_id: int | None = None


STAFF_FIELDS: dict[str, str] = {"name": "姓名", "phone": "手机", "role": "角色", "unit": "所在组织"}


def _parse_staff(r: _RowReader) -> _StaffRow | None:
    number = r.key("编号")
    fields: dict[str, Any] = {"name": r.raw("姓名", required=True, limit=50)}
    if r.has("手机"):
        fields["phone"] = r.phone()
    fields["role"] = r.choice("角色", ROLES, required=True)
    unit = r.path("所在组织")
    return _StaffRow(number=number, unit=unit, fields=fields) if number is not None else None


def _plan_and_apply_staff(
    session: Session,
    parsed: list[tuple[_RowReader, _StaffRow]],
    report: ImportReport,
    *,
    vault: Vault | None,
    now: datetime,
    apply: Callable[[], bool],
    progress: Progress | None,
) -> None:
    units = _Units(session)
    staff = list(session.scalars(select(Staff)))
    by_number = {s.number: s for s in staff}
    in_file = {item.number for _, item in parsed}

    total = len(parsed)
    for done, (reader, item) in enumerate(parsed, start=1):
        if progress is not None:
            progress(done, total)
        if item.unit is not None:
            unit = units.resolve(reader, item.unit)
            if unit is not None:
                item.unit_id = unit.id
                item.fields["unit"] = unit.path

    good = [(reader, item) for reader, item in parsed if reader.ok]
    report.skipped_rows = sorted(reader.row.number for reader, _ in parsed if not reader.ok)
    to_write: dict[str, list[str]] = {}  # number → the fields to set (all of them for a new entry)
    for reader, item in good:
        s = by_number.get(item.number)
        name = str(item.fields["name"])
        if s is None:
            report.added.append(Entry(item.number, name, reader.row.number))
            to_write[item.number] = list(item.fields)
            continue
        current = {
            "name": s.name,
            "phone": _stored_phone(vault, s.phone_enc),
            "role": s.role,
            "unit": units.path_by_id.get(s.unit_id),
        }
        changed = [k for k, v in item.fields.items() if current[k] != v]
        if changed or not s.active:
            to_write[item.number] = changed
        labels = tuple(STAFF_FIELDS[k] for k in STAFF_FIELDS if k in changed)
        entry = Entry(item.number, name, reader.row.number, labels)
        if not s.active:
            report.reactivated.append(entry)
        elif labels:
            report.updated.append(entry)
        else:
            report.unchanged.append(entry)

    missing = sorted((s for s in staff if s.active and s.number not in in_file), key=lambda s: s.number)
    report.missing = [Entry(s.number, s.name) for s in missing]
    if report.prune:
        report.deactivated = list(report.missing)
        report.unbound = _count_bindings(session, staff_ids=[s.id for s in missing])

    if not apply():
        return
    for _, item in good:
        if item.number not in to_write:
            continue
        s = by_number.get(item.number)
        if s is None:
            s = Staff(number=item.number, active=True, created_at=now, updated_at=now)
            session.add(s)
            by_number[item.number] = s
        for name in to_write[item.number]:
            value = item.fields[name]
            if name == "phone":
                _set_phone(s, vault, value)
            elif name == "unit":
                assert item.unit_id is not None
                s.unit_id = item.unit_id
            else:
                setattr(s, name, value)
        s.active = True
        s.updated_at = now
    session.flush()
    if report.prune and missing:
        for s in missing:
            s.active = False
            s.updated_at = now
        report.unbound = _unbind(session, staff_ids=[s.id for s in missing])


# --- the public API -------------------------------------------------------------------------------

Planner = Callable[[Session, list[tuple[_RowReader, Any]], ImportReport, Callable[[], bool]], None]


async def _run(
    db: Database,
    kind: ImportKind,
    source: str | Path | Table,
    parse: Callable[[_RowReader], Any],
    key: Callable[[Any], str],
    key_column: str,
    plan: Planner,
    *,
    vault: Vault | None,
    dry_run: bool,
    load_valid: bool,
    prune: bool,
) -> ImportReport:
    table = source if isinstance(source, Table) else read_table(source)
    table, columns = locate_header(table, kind)
    report = ImportReport(
        kind=kind,
        source=table.source,
        rows=len(table.rows),
        dry_run=dry_run,
        load_valid=load_valid,
        prune=prune,
        warnings=list(columns.warnings),
    )
    parsed = _parse_rows(table, columns, report, parse)
    _duplicates(parsed, key, key_column)
    if kind != "org":
        _needs_key(parsed, vault)

    def should_apply() -> bool:
        report.written = not dry_run and (load_valid or not report.errors)
        return report.written

    def work(session: Session) -> None:
        # The checks against the database and the diff run inside the transaction that writes, so what
        # is reported is what is written.
        plan(session, parsed, report, should_apply)
        if report.written:
            sync_places(session)

    if dry_run:
        async with db.read() as session:
            await session.run_sync(work)
    else:
        await db.run(work)
    report.errors.sort(key=lambda issue: issue.row or 0)
    report.warnings.sort(key=lambda issue: issue.row or 0)
    return report


async def import_org(
    db: Database,
    path: str | Path | Table,
    *,
    now: datetime,
    dry_run: bool = False,
    load_valid: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Load the organisation tree (组织路径, 类型, 主题党日, 覆盖楼栋), matched by 组织路径.

    Raises ImportFailed when the file cannot be read at all; row errors are in the report."""

    def plan(
        session: Session,
        parsed: list[tuple[_RowReader, Any]],
        report: ImportReport,
        apply: Callable[[], bool],
    ) -> None:
        _plan_and_apply_org(session, parsed, report, now=now, apply=apply, progress=progress)

    return await _run(
        db,
        "org",
        path,
        _parse_org,
        lambda item: str(item.path),
        "组织路径",
        plan,
        vault=None,
        dry_run=dry_run,
        load_valid=load_valid,
        prune=prune,
    )


async def import_members(
    db: Database,
    vault: Vault | None,
    path: str | Path | Table,
    *,
    now: datetime,
    dry_run: bool = False,
    load_valid: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Load the member ledger (党员台账), matched by 编号. Phones are stored only encrypted with vault; a
    file with phones and no vault raises ImportFailed. Preferences a member set in chat
    (Member.chat_preferences) are kept. With prune, members missing from the file are deactivated and their
    WeChat unbound."""
    latest = (now + timedelta(days=1)).date()  # "today" wherever in China the secretary is

    def plan(
        session: Session,
        parsed: list[tuple[_RowReader, Any]],
        report: ImportReport,
        apply: Callable[[], bool],
    ) -> None:
        _plan_and_apply_members(session, parsed, report, vault=vault, now=now, apply=apply, progress=progress)

    return await _run(
        db,
        "members",
        path,
        _member_parser(latest),
        lambda item: str(item.number),
        "编号",
        plan,
        vault=vault,
        dry_run=dry_run,
        load_valid=load_valid,
        prune=prune,
    )


async def import_staff(
    db: Database,
    vault: Vault | None,
    path: str | Path | Table,
    *,
    now: datetime,
    dry_run: bool = False,
    load_valid: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Load grid workers (网格员), matched by 编号; like import_members."""

    def plan(
        session: Session,
        parsed: list[tuple[_RowReader, Any]],
        report: ImportReport,
        apply: Callable[[], bool],
    ) -> None:
        _plan_and_apply_staff(session, parsed, report, vault=vault, now=now, apply=apply, progress=progress)

    return await _run(
        db,
        "staff",
        path,
        _parse_staff,
        lambda item: str(item.number),
        "编号",
        plan,
        vault=vault,
        dry_run=dry_run,
        load_valid=load_valid,
        prune=prune,
    )
