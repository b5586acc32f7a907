"""Reading spreadsheets as streams of rows: CSV in any common encoding and delimiter, with
or without a byte-order mark, and Excel .xlsx (the first sheet)."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from charset_normalizer import from_bytes

SAMPLE = 64 * 1024
DELIMITERS = ",;\t|"
XLSX_MAGIC = b"PK\x03\x04"


class Unreadable(Exception):
    """The file cannot be read as a table; the message says why, for a person."""


@dataclass
class Table:
    headers: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (row number in the file, cells)
    encoding: str | None
    delimiter: str | None


def normalise(header: str) -> str:
    """A header as compared with field names and synonyms: what is in brackets (a hint
    such as "(YYYY)" or "(required)") dropped, then letters and digits only, in lower case,
    joined by one underscore."""
    bare = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", header)
    return re.sub(r"[^a-z0-9]+", "_", bare.strip().lower()).strip("_")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _encoding(sample: bytes) -> str:
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if sample.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        found = from_bytes(sample)
        best = found.best()
        if best is None:
            return "cp1252"
        # Short samples often tie; spreadsheets from Western offices are mostly Windows-1252.
        for match in found:
            if (match.encoding == "cp1252" and match.chaos <= best.chaos
                    and match.coherence >= best.coherence):  # fmt: skip
                return "cp1252"
        return str(best.encoding)


def open_table(stream: IO[bytes]) -> Table:
    """Headers and rows of a CSV or .xlsx file; ``Unreadable`` if it has neither."""
    head = stream.read(SAMPLE)
    stream.seek(0)
    if not head.strip():
        raise Unreadable("The file is empty.")
    if head.startswith(XLSX_MAGIC):
        return _xlsx(stream)
    encoding = _encoding(head)
    text = head.decode(encoding, errors="replace")
    try:
        delimiter = csv.Sniffer().sniff(text.split("\n", 20)[0] + "\n", DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(
        io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline=""),
        delimiter=delimiter,
    )
    try:
        headers = next(reader)
    except StopIteration:
        raise Unreadable("The file is empty.") from None
    except csv.Error as exc:
        raise Unreadable(f"This is not a readable CSV file ({exc}).") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 1
        try:
            for cells in reader:
                number += 1
                if any(c.strip() for c in cells):
                    yield number, [c.strip() for c in cells]
        except csv.Error as exc:
            raise Unreadable(f"Row {number + 1} cannot be read ({exc}).") from None

    return Table([h.strip() for h in headers], rows(), encoding, delimiter)


def _xlsx(stream: IO[bytes]) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # a damaged or foreign zip
        raise Unreadable(f"This is not a readable .xlsx file ({type(exc).__name__}).") from None
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    try:
        headers = [_cell(v) for v in next(values)]
    except StopIteration:
        raise Unreadable("The file is empty.") from None
    while headers and not headers[-1]:
        headers.pop()

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, cells in enumerate(values, start=2):
            found = [_cell(v) for v in cells]
            if any(found):
                yield number, found
        book.close()

    return Table(headers, rows(), None, None)


def plain(value: Any) -> Any:
    """A value as JSON holds it: dates and times as ISO 8601 text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
