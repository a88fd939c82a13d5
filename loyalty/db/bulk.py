"""Many rows into one table, as fast as the database allows.

PostgreSQL: ``COPY ... FROM STDIN`` through psycopg (an order of magnitude faster than
multi-row INSERTs for a batch of a thousand); elsewhere, or for a handful of rows, an
executemany INSERT. Rows are dicts keyed by column name; missing columns get their defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, func, insert, select, text
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


def new_ids(session: Session, model: Any, n: int) -> list[int]:
    """``n`` fresh primary keys for ``model``'s table, so rows can point at each other before
    they are written (an entry and the lot it creates). PostgreSQL draws them from the
    sequence; SQLite, whose writers are serialised, continues from the largest id."""
    table = model.__table__
    if session.get_bind().dialect.name == "postgresql":
        sql = "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
        return list(session.scalars(text(sql), {"t": table.name, "n": n}))
    session.flush()
    top = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(top + 1, top + n + 1))


def _value(value: Any, is_json: bool) -> Any:
    if is_json and value is not None:
        return orjson.dumps(value).decode()
    return value
