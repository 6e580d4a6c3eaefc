"""The export files, written from channel-neutral sheets: CSV files for scripts and the record,
and the XLSX workbook a staff member opens in Excel.

A sheet's cells hold plain values (text, numbers, aware date-times) or the small wrappers
below, which each file renders its own way:

- CSV: machine-friendly and stable whatever the language: snake_case headers, keys
  (`daedeok`, `approved`), shares in percent, date-times as ISO 8601 with the campaign's
  offset. UTF-8 with a BOM, so Excel shows Korean right when it opens one.
- Workbook: what staff would have made by hand: headers and sheet titles in the staff
  member's language (`exports.*` in the catalogs), names instead of keys, real date-time cells
  in the campaign's local time, percentages as percent cells, widths that fit the content, a
  bold header row frozen above the data, and an autofilter over it. Written in openpyxl's
  write-only mode, row by row (everything that shapes a sheet is set before its first row).
  A sheet may hold at most `workbook_max` rows in the workbook: a bigger vote log is in its
  CSV only, and its sheet says so in one line (a workbook row costs about 30 times a CSV row,
  and nobody reads a million rows in Excel)."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice
from pathlib import Path
from typing import Any, Protocol

from bot.domain import Text
from bot.i18n import plain

CSV_ENCODING = "utf-8-sig"
XLSX_MAX_ROWS = 1_048_576  # rows in one XLSX sheet, the header included
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
PERCENT_FORMAT = "0.0%"
WIDTH_SAMPLE = 500  # rows looked at to size the columns: widths must be set before any row
MIN_WIDTH, MAX_WIDTH = 6, 60
# What openpyxl refuses in a cell (control characters XML 1.0 cannot hold).
ILLEGAL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class Named:
    """A district, category or neighbourhood: the CSV gets the key, the workbook its name
    (from the campaign file) in the staff member's language."""

    key: object
    name: Text


@dataclass(frozen=True)
class Term:
    """A value with a catalog name (a status, yes/no, a signal's kind): the CSV gets the key,
    the workbook the text of `message` in the staff member's language."""

    key: object
    message: str


@dataclass(frozen=True)
class Percent:
    """A share between 0 and 1: 12.5 in the CSV, a 12.5 % cell in the workbook."""

    share: float


class Counted(Protocol):
    """Rows to come, and how many: a list, or a source read as it is written."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...


class LazyRows:
    """Rows made from `source` as they are written, so a million-vote log is never held as
    finished rows as well."""

    def __init__(self, source: Counted, make: Callable[[Any], tuple]) -> None:
        self.source = source
        self.make = make

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[tuple]:
        return map(self.make, self.source)


@dataclass(frozen=True)
class Sheet:
    name: str  # the CSV file's stem; the workbook's sheet title is exports.sheet.<name>
    header: tuple[str, ...]  # CSV headers; the workbook's are exports.header.<key>
    rows: Sequence[tuple] | LazyRows
    workbook_max: int | None = None  # more rows than this: in the CSV only (see above)


# --- CSV -------------------------------------------------------------------------------------


PLAIN = (str, int, float)


def csv_value(value: object) -> object:
    if type(value) in PLAIN:  # most cells: skip the checks below
        return value
    if value is None:
        return ""
    if isinstance(value, Named | Term):
        return value.key
    if isinstance(value, Percent):
        return round(100.0 * value.share, 2)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value


# --- the workbook ----------------------------------------------------------------------------


def display_width(text: str) -> int:
    """Columns a text takes in Excel: Korean (and other wide) characters count double."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def sheet_title(language: str, name: str, part: int = 1) -> str:
    title = plain(language, f"exports.sheet.{name}")
    return title if part == 1 else f"{title} ({part})"


class WorkbookWriter:
    """One workbook in `language`; `max_rows` is Excel's limit (lowered by tests)."""

    def __init__(self, language: str, max_rows: int = XLSX_MAX_ROWS) -> None:
        from openpyxl import Workbook  # loaded when exporting, not every time the bot starts
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        self.language = language
        self.max_rows = max_rows
        self.book = Workbook(write_only=True)
        self._cell = WriteOnlyCell
        self._font = Font(bold=True)
        self._styles: dict[str, Any] = {}

    def _style_of(self, ws: Any, kind: str) -> Any:
        """The style array of a header, date-time or percent cell, made once per workbook
        (styles belong to the workbook): every such cell shares it, which is safe because
        openpyxl writes each row out before the next is appended and never changes it."""
        if kind not in self._styles:
            cell = self._cell(ws)
            if kind == "header":
                cell.font = self._font
            else:
                cell.number_format = DATETIME_FORMAT if kind == "datetime" else PERCENT_FORMAT
            self._styles[kind] = cell._style
        return self._styles[kind]

    def value(self, value: object) -> object:
        """A sheet's value as the workbook shows it (before any styling)."""
        if isinstance(value, Named):
            return value.name.get(self.language)
        if isinstance(value, Term):
            return plain(self.language, value.message)
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)  # local time: Excel has no time zones
        return value

    def text(self, value: object) -> str:
        shown = self.value(value)
        if shown is None:
            return ""
        if isinstance(value, datetime):
            return "0000-00-00 00:00:00"
        if isinstance(value, Percent):
            return "100.0%"
        if isinstance(shown, float):
            return f"{shown:.2f}"
        return max(str(shown).splitlines() or [""], key=display_width)

    def widths(self, header: Sequence[str], rows: Iterable[tuple]) -> list[float]:
        widest = [display_width(h) + 3 for h in header]  # room for the filter button
        for row in islice(rows, WIDTH_SAMPLE):
            for i, value in enumerate(row):
                widest[i] = max(widest[i], display_width(self.text(value)))
        return [min(max(w + 2, MIN_WIDTH), MAX_WIDTH) for w in widest]

    def add(self, sheet: Sheet, rows: Iterator[tuple]) -> None:
        """The sheet's `rows` (`len(sheet.rows)` of them), continued on "title (2)", "(3)"…
        past Excel's row limit. Widths come from the first rows: they must be set before any
        row is written."""
        sample = list(islice(rows, WIDTH_SAMPLE))
        header = [plain(self.language, f"exports.header.{key}") for key in sheet.header]
        widths = self.widths(header, sample)
        rows = chain(sample, rows)
        per_sheet = self.max_rows - 1
        total = len(sheet.rows)
        part = 1
        while True:
            count = min(per_sheet, total - (part - 1) * per_sheet)
            self._write(sheet_title(self.language, sheet.name, part), header, widths,
                        islice(rows, count), count)
            if part * per_sheet >= total:
                return
            part += 1

    def _write(self, title: str, header: list[str], widths: list[float],
               rows: Iterable[tuple], count: int) -> None:
        from openpyxl.utils import get_column_letter

        ws = self.book.create_sheet(title)
        for i, width in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{count + 1}"
        ws.append([self._with_style(ws, text, "header") for text in header])
        for row in rows:
            ws.append([self.cell(ws, v) for v in row])

    def _with_style(self, ws: Any, value: object, kind: str) -> Any:
        cell = self._cell(ws)
        cell._style = self._style_of(ws, kind)  # before the value: a date-time keeps this format
        cell.value = value
        return cell

    def cell(self, ws: Any, value: object) -> object:
        kind = type(value)
        if kind is int or kind is float or value is None:  # most cells: the fast way out
            return value
        if kind is str:
            return self._text_cell(ws, value)  # type: ignore[arg-type]
        if isinstance(value, datetime):
            return self._with_style(ws, value.replace(tzinfo=None), "datetime")
        if isinstance(value, Percent):
            return self._with_style(ws, value.share, "percent")
        shown = self.value(value)
        if isinstance(shown, str):
            return self._text_cell(ws, shown)
        return shown

    def _text_cell(self, ws: Any, text: str) -> object:
        """Text stays text: what citizens typed may hold characters XML cannot carry (they
        would stop the whole export), or start with "=" (Excel would run it as a formula)."""
        if ILLEGAL_CHARACTERS.search(text):
            text = ILLEGAL_CHARACTERS.sub("", text)
        if not text.startswith("="):
            return text
        cell = self._cell(ws, text)
        cell.data_type = "s"
        return cell

    def add_elsewhere(self, sheet: Sheet) -> None:
        """The sheet as one line saying its rows are in its CSV file only."""
        ws = self.book.create_sheet(sheet_title(self.language, sheet.name))
        ws.column_dimensions["A"].width = MAX_WIDTH * 2
        ws.append([plain(self.language, "exports.in_csv_only", rows=f"{len(sheet.rows):,}",
                         file=f"{sheet.name}.csv")])

    def save(self, path: Path) -> Path:
        self.book.save(path)
        return path


def written_to_csv(rows: Iterable[tuple], writer: Any) -> Iterator[tuple]:
    """`rows`, each written to the CSV `writer` as it passes on to the workbook."""
    for row in rows:
        writer.writerow([csv_value(v) for v in row])
        yield row


def write_files(sheets: list[Sheet], out: Path, workbook_name: str, language: str,
                max_rows: int = XLSX_MAX_ROWS) -> list[Path]:
    """A CSV per sheet, then the workbook with all of them; the paths, in that order. Each
    row is made once and goes to both files at once, then is let go."""
    out.mkdir(parents=True, exist_ok=True)
    workbook = WorkbookWriter(language, max_rows)
    paths = []
    for sheet in sheets:
        path = out / f"{sheet.name}.csv"
        with open(path, "w", encoding=CSV_ENCODING, newline="") as f:
            writer = csv.writer(f)
            writer.writerow(sheet.header)
            if sheet.workbook_max is not None and len(sheet.rows) > sheet.workbook_max:
                writer.writerows([csv_value(v) for v in row] for row in sheet.rows)
                workbook.add_elsewhere(sheet)
            else:
                workbook.add(sheet, written_to_csv(sheet.rows, writer))
        paths.append(path)
    paths.append(workbook.save(out / workbook_name))
    return paths
