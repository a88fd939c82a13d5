"""Every console table can be downloaded as CSV or XLSX; rows stream as they are read.

CSV starts with a UTF-8 byte order mark so Excel opens Chinese text correctly. XLSX is written
with xlsxwriter's constant-memory mode to a temporary file and streamed from there.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import xlsxwriter
from fastapi.responses import StreamingResponse

from loyalty.errors import InvalidRequestError

FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 1000


def export_response(
    fmt: str, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> StreamingResponse:
    """A download of ``rows`` under ``header`` as ``filename.csv`` or ``filename.xlsx``."""
    if fmt not in FORMATS:
        raise InvalidRequestError(f"format {fmt!r}: use csv or xlsx")
    body = _csv(header, rows) if fmt == "csv" else _xlsx(header, rows)
    media = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_TYPE
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}.{fmt}"
    return StreamingResponse(body, media_type=media, headers={"Content-Disposition": disposition})


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield ("\ufeff" + buffer.getvalue()).encode()
    for count, row in enumerate(rows, 1):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(v) for v in row])
        yield buffer.getvalue().encode()
        if count % CHUNK == 0:
            buffer = io.StringIO()
            writer = csv.writer(buffer)


def _xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    with tempfile.NamedTemporaryFile(suffix=".xlsx") as tmp:
        book = xlsxwriter.Workbook(tmp.name, {"constant_memory": True, "remove_timezone": True})
        sheet = book.add_worksheet()
        bold = book.add_format({"bold": True})
        sheet.write_row(0, 0, list(header), bold)
        for index, row in enumerate(rows, 1):
            sheet.write_row(index, 0, [_cell(v) for v in row])
        book.close()
        tmp.seek(0)
        while chunk := tmp.read(64 * 1024):
            yield chunk
