"""Reading and writing the directory's spreadsheets: CSV (UTF-8 or Shift_JIS) and XLSX.

Municipal PCs save CSV from Excel as Shift_JIS (CP932) unless told otherwise, and as UTF-8
with a BOM when told; both are read. Every cell becomes stripped text, numbered by the row
Excel shows, so a report can say 「3行目」 and the person finds the row.
"""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from handlers.export_files import ILLEGAL_CHARACTERS_RE, Cell, to_csv

ENCODINGS = ("utf-8-sig", "cp932")
_FORMULA_START = ("=", "+", "-", "@")


class UnreadableFile(Exception):
    """The file cannot be read as a table; ``reason`` is a catalogue key under directory.files."""

    def __init__(self, reason: str, **values: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values


@dataclass(frozen=True, slots=True)
class Table:
    """What the export writes: a titled header and rows of text."""

    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True, slots=True)
class Sheet:
    """One table: the header row, then data rows with the row number Excel shows."""

    label: str  # the file or sheet name, for the report
    header: list[str]
    rows: list[tuple[int, list[str]]]


def kind_of(path: Path) -> str:
    """The file's kind, ``csv`` or ``xlsx``, from its name."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise UnreadableFile("unsupported", path=path)
    return suffix[1:]


def read_csv(path: Path) -> Sheet:
    data = _read_bytes(path)
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return _sheet(path.name, list(csv.reader(io.StringIO(text, newline=""))))
    raise UnreadableFile("encoding", path=path)


def read_xlsx(path: Path) -> dict[str, Sheet]:
    """Every sheet by name, in the workbook's order."""
    from openpyxl import load_workbook  # lazily: see handlers.export_files
    from openpyxl.utils.exceptions import InvalidFileException

    data = _read_bytes(path)
    try:
        with warnings.catch_warnings():
            # Real workbooks carry extensions openpyxl skips with a warning (data validation …).
            warnings.simplefilter("ignore", UserWarning)
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableFile("bad_xlsx", path=path, detail=exc) from exc
    try:
        return {
            ws.title: _sheet(ws.title, [[_text(v) for v in row] for row in ws.values])
            for ws in book.worksheets
        }
    finally:
        book.close()


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    """UTF-8 with a BOM (what Excel opens correctly), formula-like text guarded."""
    path.write_bytes(to_csv(header, rows))


def write_xlsx(path: Path, tables: Sequence[Table]) -> None:
    """One sheet per table; every cell is text, so an id like 00123 keeps its zeros."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for table in tables:
        ws = book.create_sheet(table.title[:31])  # Excel's limit for sheet names
        ws.append(table.header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            ws.append([ILLEGAL_CHARACTERS_RE.sub("", cell) for cell in row])
        for line in ws.iter_rows(min_row=2):
            for cell in line:
                cell.data_type = "s"  # never a formula
                cell.number_format = "@"
        ws.freeze_panes = "A2"
    book.save(path)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise UnreadableFile("not_found", path=path) from exc
    except OSError as exc:
        raise UnreadableFile("unreadable", path=path, detail=exc) from exc


def _sheet(label: str, records: list[list[str]]) -> Sheet:
    numbered = [
        (number, [_cell(v) for v in record])
        for number, record in enumerate(records, start=1)
        if any(v.strip() for v in record)
    ]
    if not numbered:
        return Sheet(label, [], [])
    (_, header), *rows = numbered
    return Sheet(label, header, rows)


def _cell(value: str) -> str:
    text = value.strip()
    # The CSV export guards formula-like text with a quote: read it back as typed.
    if text.startswith("'") and text[1:].startswith(_FORMULA_START):
        return text[1:]
    return text


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an id typed as a number
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
