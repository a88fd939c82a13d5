"""Many rows into one table, as fast as the database allows.

PostgreSQL: ``COPY ... FROM STDIN`` through psycopg (an order of magnitude faster than
multi-row INSERTs for a batch of a thousand); elsewhere, or for a handful of rows, an
executemany INSERT. Rows are dicts keyed by column name; missing columns get their defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, insert
from sqlalchemy.orm import Session

COPY_FROM = 50


def bulk_insert(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql" or len(rows) < COPY_FROM:
        session.execute(insert(model), list(rows))
        return
    session.flush()
    table = model.__table__
    columns = [c for c in table.columns if c.name in rows[0]]
    json_cols = {c.name for c in columns if isinstance(c.type, JSON)}
    names = ", ".join(c.name for c in columns)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([_value(row[c.name], c.name in json_cols) for c in columns])


def _value(value: Any, is_json: bool) -> Any:
    if is_json and value is not None:
        return orjson.dumps(value).decode()
    return value
