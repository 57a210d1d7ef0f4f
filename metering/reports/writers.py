"""Writing rows to CSV and Excel without holding them in memory.

Rows come from an iterator (the database cursor, in chunks) and go straight to the file: CSV line by
line, Excel through openpyxl's write-only workbook (rows stream to a temporary XML part). A sheet
holds at most EXCEL_MAX_DATA_ROWS rows; a longer export continues on the next sheet, under the same
header, rather than being cut off.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from metering.reports.formatting import csv_cell, excel_number_format, excel_value
from metering.reports.tables import Column

# Excel's limit is 1,048,576 rows a sheet; a round number below it leaves room for the header.
EXCEL_MAX_DATA_ROWS = 1_000_000
# Spreadsheets (Excel on Windows above all) read a CSV as UTF-8 only when it starts with a BOM.
CSV_ENCODING = "utf-8-sig"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
# Sheet titles may not exceed 31 characters.
SHEET_TITLE_CHARS = 31

Progress = Callable[[int], None]


def _labels(columns: Sequence[Column]) -> list[str]:
    return [str(column.label) for column in columns]


class _Echo:
    """A file-like object that hands back what csv.writer writes (for a streamed response)."""

    def write(self, value: str) -> str:
        return value


def csv_lines(columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
              preamble: Sequence[str] = (), footer: Sequence[str] = ()) -> Iterator[str]:
    """The CSV text, line by line: the BOM, the preamble lines (title, subject, period), the header,
    the rows and the footer lines (notes, factor sets)."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    for line in preamble:
        yield writer.writerow([line])
    yield writer.writerow(_labels(columns))
    for row in rows:
        yield writer.writerow([csv_cell(value, column) for value, column in zip(row, columns, strict=True)])
    for line in footer:
        yield writer.writerow([line])


def write_csv(out: IO[str], columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
              preamble: Sequence[str] = (), footer: Sequence[str] = (),
              on_progress: Progress | None = None, progress_every: int = 5000) -> int:
    """Write to a text file opened with newline=""; returns the number of data rows."""
    writer = csv.writer(out)
    for line in preamble:
        writer.writerow([line])
    writer.writerow(_labels(columns))
    written = 0
    for row in rows:
        writer.writerow([csv_cell(value, column) for value, column in zip(row, columns, strict=True)])
        written += 1
        if on_progress is not None and written % progress_every == 0:
            on_progress(written)
    for line in footer:
        writer.writerow([line])
    return written


def write_xlsx(out: IO[bytes] | str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
               sheet_title: str, preamble: Sequence[str] = (), footer: Sequence[str] = (),
               on_progress: Progress | None = None, progress_every: int = 5000,
               max_rows_per_sheet: int = EXCEL_MAX_DATA_ROWS) -> int:
    """Write an Excel workbook to `out` (a path or a binary file); returns the number of data rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    formats = [excel_number_format(column) for column in columns]
    sheets = 0

    def new_sheet() -> Any:
        nonlocal sheets
        sheets += 1
        title = sheet_title if sheets == 1 else f"{sheet_title} ({sheets})"
        sheet = workbook.create_sheet(title=title[:SHEET_TITLE_CHARS])
        for index, column in enumerate(columns, start=1):
            width = max(10, min(40, len(str(column.label)) * 2))
            sheet.column_dimensions[_column_letter(index)].width = width
        for line in preamble:
            cell = WriteOnlyCell(sheet, value=line)
            cell.font = bold
            sheet.append([cell])
        header = []
        for label in _labels(columns):
            cell = WriteOnlyCell(sheet, value=label)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        return sheet

    sheet = new_sheet()
    on_sheet = 0
    written = 0
    for row in rows:
        if on_sheet >= max_rows_per_sheet:
            sheet, on_sheet = new_sheet(), 0
        values: list[Any] = []
        for value, column, number_format in zip(row, columns, formats, strict=True):
            cell_value = excel_value(value, column)
            if isinstance(cell_value, dt.datetime):
                cell = WriteOnlyCell(sheet, value=cell_value)
                cell.number_format = DATETIME_FORMAT
                values.append(cell)
            elif number_format is not None and cell_value is not None:
                cell = WriteOnlyCell(sheet, value=cell_value)
                cell.number_format = number_format
                values.append(cell)
            else:
                values.append(cell_value)
        sheet.append(values)
        on_sheet += 1
        written += 1
        if on_progress is not None and written % progress_every == 0:
            on_progress(written)
    for line in footer:
        sheet.append([line])
    workbook.save(out)
    return written


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)
