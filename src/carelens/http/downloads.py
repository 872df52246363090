"""Tables as files: every row of a service's answer as CSV or as an Excel workbook, written while the
rows are read, for the API's ``format=csv`` and the pages' download links alike.

A cell is safe to open in a spreadsheet: in CSV, text that a spreadsheet would run as a formula gets a
leading ``'`` (:func:`spreadsheet_safe`); in a workbook every text is written as a text cell, never a
formula. A column named ``a.b`` is field ``b`` of the row's object ``a`` (e.g. ``comparison.verdict``);
any other object or list is written as JSON.

A download holds what the page holds for the actor: the services decide the rows (a file of a
signed-in actor may hold confidential data, so it is never stored by a cache; the public's may be).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from fastapi.responses import StreamingResponse

from carelens.model.access import Actor
from carelens.services.settings import get_settings

FileFormat = Literal["csv", "xlsx"]
"""The formats a table is downloaded in."""
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection)."""
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
CSV_CHUNK_ROWS = 500
"""Rows written into one piece of a streamed CSV (fewer, larger writes than one per row)."""
FILE_CHUNK_BYTES = 1 << 16
"""Size of each piece of a workbook sent."""
SHEET_NAME_CHARACTERS = 31
"""The longest worksheet name Excel accepts."""


def spreadsheet_safe(value: Any) -> Any:
    """A cell value that a spreadsheet cannot run: text starting with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return gets a leading ``'`` (shown as text, OWASP's advice), unless it is a plain
    number such as ``-3.5``, which stays a number. Numbers, booleans and empty cells are unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def cell(row: dict[str, Any], name: str) -> Any:
    """The value of column ``name`` in ``row`` (``a.b``: field ``b`` of object ``a``; objects and lists
    other than that as JSON text)."""
    outer, _, inner = name.partition(".")
    value = row[outer].get(inner) if inner and isinstance(row.get(outer), dict) else row.get(name)
    return json.dumps(value) if isinstance(value, dict | list) else value


def csv_chunks(columns: list[str], rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The header and ``rows`` as CSV, in pieces of :data:`CSV_CHUNK_ROWS` rows. Lines end in CRLF (RFC
    4180), so that a field holding a CR or LF is quoted and stays one field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([spreadsheet_safe(name) for name in columns])
    for n, row in enumerate(rows, start=1):
        writer.writerow([spreadsheet_safe(cell(row, name)) for name in columns])
        if n % CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def csv_bytes(columns: list[str], rows: Iterable[dict[str, Any]]) -> bytes:
    """The whole CSV at once (a page of rows already in memory)."""
    return b"".join(csv_chunks(columns, rows))


def xlsx_chunks(columns: list[str], rows: Iterable[dict[str, Any]], sheet: str) -> Iterator[bytes]:
    """The header and ``rows`` as one worksheet of an Excel workbook, in pieces. The workbook is written
    a row at a time to a temporary file (``constant_memory``: a row is flushed when the next starts), as
    a workbook is a zip archive that is complete only at its end, then sent and deleted. Text is never
    read as a formula, a link or a number."""
    import xlsxwriter

    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        options = {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "nan_inf_to_errors": True,
            "tmpdir": tempfile.gettempdir(),
        }
        with xlsxwriter.Workbook(path, options) as workbook:
            worksheet = workbook.add_worksheet(re.sub(r"[\[\]:*?/\\]", " ", sheet)[:SHEET_NAME_CHARACTERS])
            worksheet.write_row(0, 0, columns, workbook.add_format({"bold": True}))
            worksheet.freeze_panes(1, 0)
            for n, row in enumerate(rows, start=1):
                worksheet.write_row(n, 0, [cell(row, name) for name in columns])
        with open(path, "rb") as file:
            while piece := file.read(FILE_CHUNK_BYTES):
                yield piece
    finally:
        os.unlink(path)


def download(
    actor: Actor, columns: list[str], rows: Iterable[dict[str, Any]], name: str, file_format: FileFormat
) -> StreamingResponse:
    """``rows`` streamed as ``name.csv`` or ``name.xlsx`` (an attachment), never cached when the actor
    is signed in (it may hold confidential data), cacheable for ``public_max_age`` seconds otherwise."""
    if file_format == "xlsx":
        body = xlsx_chunks(columns, rows, name)
    else:
        body = csv_chunks(columns, rows)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.{file_format}"',
        "Vary": "Authorization, Cookie",
        "Cache-Control": "no-store"
        if actor.signed_in
        else f"public, max-age={get_settings().public_max_age}",
    }
    return StreamingResponse(body, media_type=MEDIA_TYPES[file_format], headers=headers)
