"""A table of cells written as a file Excel opens cleanly: CSV (UTF-8 with BOM) or XLSX.

Cells are text, numbers or dates. Text that a spreadsheet would read as a formula (``=``,
``+``, ``-``, ``@`` first) is kept as text: staff type free text, and an export must never
run it.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from datetime import date

# openpyxl is imported where a workbook is made: it costs ~0.3 s and ~40 MB at start-up.
# Control characters an XLSX cannot hold (the same set openpyxl refuses).
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")

Cell = str | int | float | date | None
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MIN_WIDTH, MAX_WIDTH = 8, 50


def to_csv(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    """CRLF lines and a BOM, so Excel on Windows reads the Japanese text as UTF-8."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([_csv_text(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(title: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    """One sheet: bold, frozen, filterable header; real numbers and dates; readable widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]  # Excel's limit for sheet names
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_xlsx_value(cell) for cell in row])
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            elif isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    for index, header in enumerate(headers, start=1):
        column = [header, *(row[index - 1] for row in rows)]
        sheet.column_dimensions[get_column_letter(index)].width = _width(column)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv_text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    text = str(cell)
    return "'" + text if isinstance(cell, str) and text.startswith(_FORMULA_START) else text


def _xlsx_value(cell: Cell) -> Cell:
    # Control characters (e.g. a pasted vertical tab) make an invalid file.
    return ILLEGAL_CHARACTERS_RE.sub("", cell) if isinstance(cell, str) else cell


def _width(column: Sequence[Cell]) -> float:
    """Wide enough for the longest first line, counting full-width characters as two."""
    longest = max((_display_width(_csv_text(cell).split("\n")[0]) for cell in column), default=0)
    return float(min(max(longest + 2, MIN_WIDTH), MAX_WIDTH))


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
