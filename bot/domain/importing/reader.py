"""Reading a file into a Table: CSV (UTF-8 with or without BOM, GBK/GB18030, UTF-16) or the first sheet of an
XLSX file; the old .xls format is refused. Every cell becomes trimmed text, rows keep their spreadsheet
numbers."""

from __future__ import annotations

import codecs
import csv
import io
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from bot.domain.importing.messages import ImportFailed, message


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


def clean(text: str) -> str:
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
    return clean(str(value))


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
    cleaned = [[clean(cell) for cell in record] for record in records]
    header_index = next((i for i, record in enumerate(cleaned) if any(record)), None)
    if header_index is None:
        raise ImportFailed(message("file.empty", file=source))
    rows = tuple(
        TableRow(number=i + 1, cells=tuple(record))
        for i, record in enumerate(cleaned)
        if i > header_index and any(record)
    )
    return Table(source=source, header=tuple(cleaned[header_index]), rows=rows, header_row=header_index + 1)
