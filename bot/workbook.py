"""XLSX workbooks for every export (the CLI's `--xlsx` files and the console's downloads): a bold,
frozen header row, columns as wide as their longest line (CJK characters count double), long cells wrapped."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def width(text: str) -> int:
    """Columns a string takes in a terminal or a spreadsheet: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@dataclass(frozen=True, slots=True)
class Sheet:
    title: str
    header: Sequence[str]
    cells: Sequence[Sequence[Any]]
    freeze: str = "A2"  # "B2" keeps the first column in view too
    wrap: bool = False  # cells with several lines wrap, aligned to the top


def workbook_bytes(*sheets: Sheet) -> bytes:
    out = io.BytesIO()
    _book(sheets).save(out)
    return out.getvalue()


def write_workbook(path: Path, *sheets: Sheet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _book(sheets).save(path)


def _book(sheets: Sequence[Sheet]) -> Any:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    first = book.active
    assert first is not None
    for n, spec in enumerate(sheets):
        sheet = first if n == 0 else book.create_sheet()
        sheet.title = spec.title[:31]  # Excel's limit
        sheet.append(list(spec.header))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in spec.cells:
            sheet.append(list(row))
        sheet.freeze_panes = spec.freeze
        for column in sheet.columns:
            letter = column[0].column_letter
            longest = max(width(str(c.value or "").split("\n")[0]) for c in column)
            sheet.column_dimensions[letter].width = min(60, max(8, longest + 2))
        if spec.wrap:
            for cells in sheet.iter_rows(min_row=2):
                for cell in cells:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
    return book
