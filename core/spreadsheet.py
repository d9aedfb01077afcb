"""Tables in and out of spreadsheets: XLSX (openpyxl) and CSV, as office software writes them.

Reading takes the first sheet of an XLSX file or a CSV file in UTF-8 (with or without a byte
order mark) or GB 18030 (what spreadsheet software saves in a Chinese locale). Writing quotes
cells that a spreadsheet would run as a formula, and CSV gets a byte order mark so that
spreadsheet software reads its Chinese text as UTF-8.
"""

import csv
import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

from openpyxl import Workbook, load_workbook

from core.errors import InvalidInput
from core.i18n import N_

Cell = str | int | float | date | datetime | None
log = logging.getLogger(__name__)

_XLS_MAGIC = b"\xd0\xcf\x11\xe0"
_ZIP_MAGIC = b"PK\x03\x04"  # XLSX is a zip archive
# A text starting with one of these runs as a formula when a spreadsheet opens the file.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def read_table(data: bytes, *, max_rows: int) -> Iterator[tuple[int, list[Cell]]]:
    """The non-empty rows of an XLSX or CSV file as (row number from 1, cells); InvalidInput
    when the file cannot be read or has more than `max_rows` rows below its header."""
    if data.startswith(_XLS_MAGIC):
        raise InvalidInput(N_("Old .xls files cannot be read: save the file as .xlsx or .csv."))
    rows = _xlsx_rows(data) if data.startswith(_ZIP_MAGIC) else _csv_rows(data)
    count = 0
    for number, cells in rows:
        if any(cell not in (None, "") for cell in cells):
            count += 1
            if count > max_rows + 1:
                raise InvalidInput(N_("The file has more than %(max)s rows."), max=max_rows)
            yield number, cells


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Cell]]]:
    # openpyxl raises many kinds of error on a damaged or foreign file; each means the same.
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        log.info("unreadable spreadsheet: %r", exc)
        raise InvalidInput(N_("The file could not be read as a spreadsheet.")) from exc
    try:
        sheet = book.worksheets[0]
        # Declared dimensions may reach a million formatted but empty rows: read what is there.
        sheet.reset_dimensions()
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell(value) for value in values]
    except InvalidInput:
        raise
    except Exception as exc:
        log.info("unreadable spreadsheet: %r", exc)
        raise InvalidInput(N_("The file could not be read as a spreadsheet.")) from exc
    finally:
        book.close()


def _cell(value: object) -> Cell:
    if value is None or isinstance(value, str | int | float | date | datetime):
        return value
    return str(value)


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Cell]]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput(N_("The file is neither an XLSX file nor a CSV file in UTF-8 or GBK."))
    if "\x00" in text:
        raise InvalidInput(N_("The file could not be read as a spreadsheet."))
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        yield from enumerate((list[Cell](row) for row in reader), start=1)
    except csv.Error as exc:
        raise InvalidInput(N_("The file could not be read as a spreadsheet.")) from exc


def safe_text(value: Cell) -> Cell:
    """A text cell that a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """A CSV file (UTF-8 with a byte order mark) of `header` and `rows`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_text(cell) for cell in header])
    for row in rows:
        writer.writerow(["" if cell is None else safe_text(cell) for cell in row])
    return ("\ufeff" + out.getvalue()).encode()


def write_xlsx(header: Sequence[str], rows: Iterable[Sequence[Cell]], *, title: str) -> bytes:
    """An XLSX workbook with one sheet named `title` holding `header` and `rows`."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append([safe_text(cell) for cell in header])
    for row in rows:
        sheet.append([safe_text(cell) for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
