"""Read CSV and XLSX files row by row, without holding the file in memory.

CSV: UTF-8 with or without BOM, UTF-16 with BOM, else GB18030 when the first megabyte is
not valid UTF-8 (Excel on Chinese Windows saves "CSV" in GB18030/GBK). The delimiter is
taken from the header line (comma, tab or semicolon). XLSX: the first sheet, read with
python-calamine (fast, but it holds the sheet's cells; CSV is the streaming format for
very large lists).

A reader yields ``(line_number, cells)``; ``progress()`` says how far through the file it
is (0.0 to 1.0).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Iterator
from pathlib import Path

SAMPLE_BYTES = 1 << 20
MAX_FIELD = 1 << 16


class ReadError(ValueError):
    """The file cannot be read at all (not CSV/XLSX, no header row...)."""


def detect_encoding(sample: bytes) -> str:
    """Return the codec of a CSV file from its first bytes."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a character cut at the end is fine
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


class CsvReader:
    """Rows of a CSV file."""

    def __init__(self, path: str | Path):
        """Open ``path`` and read its header row."""
        self.size = max(Path(path).stat().st_size, 1)
        self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.encoding = detect_encoding(self._raw.peek(SAMPLE_BYTES)[:SAMPLE_BYTES])
        self._text = io.TextIOWrapper(self._raw, encoding=self.encoding, errors="replace",
                                      newline="")
        first = self._text.readline()
        csv.field_size_limit(MAX_FIELD)
        self._reader = csv.reader(io.StringIO(first), delimiter=_delimiter(first))
        try:
            self.headers = next(self._reader)
        except StopIteration:
            self.headers = []
        self._reader = csv.reader(self._text, delimiter=_delimiter(first))

    def rows(self) -> Iterator[tuple[int, list]]:
        """Yield (line number, cells) for each data row; blank lines are skipped."""
        reader = self._reader
        for cells in reader:
            # the first cell (usually the number) settles most rows without a generator
            if cells and (cells[0].strip() or any(c.strip() for c in cells)):
                yield reader.line_num + 1, cells

    def progress(self) -> float:
        """Fraction of the file read so far."""
        try:
            return min(self._raw.tell() / self.size, 1.0)
        except (OSError, ValueError):
            return 1.0

    def close(self) -> None:
        """Close the file."""
        self._text.close()


class XlsxReader:
    """Rows of the first sheet of an XLSX workbook."""

    def __init__(self, path: str | Path):
        """Open the workbook and read the header row."""
        from python_calamine import CalamineError, CalamineWorkbook

        try:
            self._book = CalamineWorkbook.from_path(str(path))
            sheet = self._book.get_sheet_by_index(0)
        except (CalamineError, OSError, ValueError, IndexError) as error:
            raise ReadError(str(error)) from error
        except Exception as error:  # calamine raises its own zip/xml errors
            raise ReadError(str(error)) from error
        self._total = max(sheet.height, 1)
        self._iter = iter(sheet.iter_rows())
        self._done = 0
        self.headers = next(self._iter, [])
        self.encoding = "xlsx"

    def rows(self) -> Iterator[tuple[int, list]]:
        """Yield (line number, cells); numbers that are whole are given without ``.0``."""
        for index, cells in enumerate(self._iter, start=2):
            self._done = index
            cleaned = [_cell(c) for c in cells]
            if any(c not in ("", None) for c in cleaned):
                yield index, cleaned

    def progress(self) -> float:
        """Fraction of the sheet read so far."""
        return min(self._done / self._total, 1.0)

    def close(self) -> None:
        """Release the workbook."""
        with contextlib.suppress(Exception):  # closing twice, or an old calamine
            self._book.close()


def _cell(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return value


def open_reader(path: str | Path, file_format: str):
    """Return a reader for ``path`` (``csv`` or ``xlsx``)."""
    if file_format == "xlsx":
        return XlsxReader(path)
    if file_format == "csv":
        return CsvReader(path)
    raise ReadError(f"unknown format {file_format!r}")


def guess_format(file_name: str, head: bytes) -> str | None:
    """``xlsx`` for a zip container or an .xlsx name, ``csv`` for text, else None."""
    name = (file_name or "").lower()
    if head.startswith(b"PK\x03\x04") or name.endswith((".xlsx", ".xlsm")):
        return "xlsx" if head.startswith(b"PK\x03\x04") else None
    if name.endswith((".xls",)):
        return None
    if b"\x00" in head[:4096] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    return "csv"
