"""Checking each row on its own, without the database: `RowReader` reads a row's cells by column and records
the row's errors and warnings in the report; `duplicates` marks rows that share a key."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from bot.domain.importing.columns import ColumnMap, Issue
from bot.domain.importing.messages import message
from bot.domain.importing.reader import Table, TableRow
from bot.domain.importing.report import ImportReport
from bot.domain.importing.values import date_parts, looks_like_id_number, nfkc, normalize_path
from bot.domain.privacy import normalize_phone

T = TypeVar("T")


class RowReader:
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
        return nfkc(value) if value else None

    def choice(self, column: str, allowed: dict[str, str], *, required: bool = False) -> str | None:
        value = self.raw(column, required=required)
        if value is None:
            return None
        found = allowed.get(re.sub(r"\s+", "", nfkc(value)))
        if found is None:
            shown = "、".join(dict.fromkeys(allowed.values()))
            self.error(column, "row.choice", value=value, allowed=shown)
        return found

    def phone(self) -> str | None:
        value = self.raw("手机")
        if value is None:
            return None
        v = nfkc(value)
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
        parts = date_parts(value)
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


def parse_rows(
    table: Table, columns: ColumnMap, report: ImportReport, parse: Callable[[RowReader], T | None]
) -> list[tuple[RowReader, T]]:
    parsed: list[tuple[RowReader, T]] = []
    for row in table.rows:
        reader = RowReader(row, columns, report)
        item = parse(reader)
        if item is not None:
            parsed.append((reader, item))
    return parsed


def duplicates(parsed: Sequence[tuple[RowReader, Any]], key: Callable[[Any], str], column: str) -> None:
    rows_by_key: dict[str, list[RowReader]] = {}
    for reader, item in parsed:
        rows_by_key.setdefault(key(item), []).append(reader)
    for value, readers in rows_by_key.items():
        if len(readers) > 1:
            rows = "、".join(str(r.row.number) for r in readers)
            for reader in readers:
                reader.error(column, "row.duplicate_key", value=value, rows=rows)
