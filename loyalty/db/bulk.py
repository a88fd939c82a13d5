"""Many rows into (or over) tables, as fast as the database allows.

PostgreSQL: ``COPY ... FROM STDIN`` through psycopg for a batch of many rows (an order of
magnitude faster than multi-row INSERTs for a thousand), and the small writes of one request
sent together in one pipelined round trip (``Writes``); elsewhere an executemany per table.
Rows are dicts keyed by column name; missing columns get their defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from sqlalchemy import JSON, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.state import InstanceState

COPY_FROM = 50
Row = dict[str, Any]


def bulk_insert(session: Session, model: Any, rows: Sequence[Row]) -> None:
    if not rows:
        return
    if session.autoflush:
        session.flush()
    if not _postgres(session) or len(rows) < COPY_FROM:
        session.connection().execute(insert(model.__table__), _with_defaults(model, rows))
        return
    with _driver_errors():
        _copy(_cursor(session), model.__table__, rows)


@dataclass
class Writes:
    """Inserts, and updates of loaded objects, gathered to be sent together by ``send``.

    On PostgreSQL the small ones go in one pipelined round trip and big inserts by COPY;
    elsewhere one executemany per table. ``update`` writes the named attributes of ORM
    objects (the caller holds their rows locked) and marks them clean, so the session's own
    flush does not write them again: one statement for any number of rows.
    """

    inserts: list[tuple[Table, list[Row]]] = field(default_factory=list)
    updates: list[tuple[Table, list[Any], tuple[str, ...]]] = field(default_factory=list)
    linked: list[Linked] = field(default_factory=list)

    def insert(self, model: Any, rows: Sequence[Row]) -> None:
        if rows:
            self.inserts.append((model.__table__, _with_defaults(model, rows)))

    def insert_linked(
        self, parent: Any, child: Any, link: str, pairs: Sequence[tuple[Row, Row]]
    ) -> None:
        """Parent rows with one child row each, whose ``link`` column names its parent's id
        (an entry and the lot it creates). A few go in one statement each, the parent's id
        never leaving the database; many get their ids first (``new_ids``), then COPY."""
        if pairs:
            parents = _with_defaults(parent, [p for p, _ in pairs])
            children = _with_defaults(child, [c for _, c in pairs])
            self.linked.append(Linked(parent, child, link, parents, children))

    def update(self, model: Any, objects: Sequence[Any], names: tuple[str, ...]) -> None:
        if objects:
            self.updates.append((model.__table__, list(objects), names))

    def send(self, session: Session) -> None:
        """Write everything gathered; the session's other pending changes are flushed first."""
        updates = [(t, _update_rows(objects, names), names) for t, objects, names in self.updates]
        for _, objects, names in self.updates:
            _mark_written(session, objects, names)
        session.flush()
        postgres = _postgres(session)
        linked = [k for k in self.linked if postgres and len(k.parents) < COPY_FROM]
        for k in self.linked:
            if k not in linked:
                self.inserts[:0] = k.with_ids(new_ids(session, k.parent, len(k.parents)))
        if postgres:
            with _driver_errors():
                _pipelined(_cursor(session), self.inserts, updates, linked)
        else:
            _one_by_one(session, self.inserts, updates)
        self.inserts.clear()
        self.updates.clear()
        self.linked.clear()


@dataclass(eq=False)
class Linked:
    """Rows of ``parent`` and, one each, rows of ``child`` pointing at them by ``link``."""

    parent: Any
    child: Any
    link: str
    parents: list[Row]
    children: list[Row]

    def with_ids(self, ids: list[int]) -> list[tuple[Table, list[Row]]]:
        for parent, child, new_id in zip(self.parents, self.children, ids, strict=True):
            parent["id"] = child[self.link] = new_id
        return [(self.parent.__table__, self.parents), (self.child.__table__, self.children)]


Updates = list[tuple[Table, list[Row], tuple[str, ...]]]


def _mark_written(session: Session, objects: list[Any], names: tuple[str, ...]) -> None:
    """Tell the session that ``names`` of ``objects`` are written, so its flush skips them.

    An object changed in nothing else is marked clean at once, as a flush marks what it
    wrote; else only those attributes' history is dropped and the flush writes the rest.
    (Two hundred members left "modified" with nothing to write still cost a flush a full
    pass of the unit of work: 4 % of posting an order.)
    """
    written = set(names)
    clean: list[tuple[Any, Any]] = []
    for obj in objects:
        state = instance_state(obj)
        if written.issuperset(state.committed_state) and "_pending_mutations" not in vars(state):
            clean.append((state, state.dict))
        else:
            for name in names:
                set_committed_value(obj, name, getattr(obj, name))
    if clean:
        InstanceState._commit_all_states(clean, session.identity_map)


def _update_rows(objects: list[Any], names: tuple[str, ...]) -> list[Row]:
    """The id and ``names`` of each object, read from its loaded state (through the mapped
    attributes only for one not loaded: the attributes cost a Python call each)."""
    keys = ("id", *names)
    loaded = itemgetter(*keys)
    rows = []
    for o in objects:
        try:
            values = loaded(vars(o))
        except KeyError:  # expired or never loaded: the attributes load it
            values = tuple(getattr(o, k) for k in keys)
        rows.append(dict(zip(keys, values, strict=True)))
    return rows


def _pipelined(
    cur: Any, inserts: list[tuple[Table, list[Row]]], updates: Updates, linked: list[Linked]
) -> None:
    for table, rows in inserts:
        if len(rows) >= COPY_FROM:
            _copy(cur, table, rows)
    with cur.connection.pipeline():
        for k in linked:
            parent, child = k.parent.__table__, k.child.__table__
            up = _columns(parent, k.parents[0])
            down = tuple(c for c in _columns(child, k.children[0]) if c.name != k.link)
            cur.executemany(
                _linked_sql(parent, up, child, down, k.link),
                [
                    [*_values(p, up), *_values(c, down)]
                    for p, c in zip(k.parents, k.children, strict=True)
                ],
            )
        for table, rows in inserts:
            if len(rows) < COPY_FROM:
                columns = _columns(table, rows[0])
                cur.executemany(_insert_sql(table, columns), [_values(r, columns) for r in rows])
        for table, rows, names in updates:
            cur.execute(_update_sql(table, names), _recordset(rows))


def _one_by_one(session: Session, inserts: list[tuple[Table, list[Row]]], updates: Updates) -> None:
    conn = session.connection()
    for table, rows in inserts:
        conn.execute(insert(table), rows)
    for table, rows, names in updates:
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({n: bindparam(n) for n in names})
        )
        conn.execute(stmt, [{"_id": r["id"], **{n: r[n] for n in names}} for r in rows])


def new_ids(session: Session, model: Any, n: int) -> list[int]:
    """``n`` fresh primary keys for ``model``'s table, so rows can point at each other before
    they are written (an entry and the lot it creates). PostgreSQL draws them from the
    sequence; SQLite, whose writers are serialised, continues from the largest id."""
    table = model.__table__
    if _postgres(session):
        sql = "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
        with session.no_autoflush:
            return list(session.connection().scalars(text(sql), {"t": table.name, "n": n}))
    if any(isinstance(obj, model) for obj in session.new):
        session.flush()
    top = session.connection().scalar(select(func.max(table.c.id))) or 0
    return list(range(top + 1, top + n + 1))


# --- PostgreSQL, through the driver ------------------------------------------------------------


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _cursor(session: Session) -> Any:
    return session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


@contextmanager
def _driver_errors() -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy's (``IntegrityError`` for a taken unique key),
    as statements sent through SQLAlchemy would, so callers' retries see them."""
    try:
        yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc


def _with_defaults(model: Any, rows: Sequence[Row]) -> list[Row]:
    """Rows with every column that has a scalar default filled in."""
    defaults = _scalar_defaults(model.__table__)
    missing = {k: v for k, v in defaults.items() if k not in rows[0]}
    if not missing:
        return list(rows)
    return [{**missing, **r} for r in rows]


@cache
def _scalar_defaults(table: Table) -> dict[str, Any]:
    return {
        c.name: c.default.arg  # type: ignore[attr-defined]
        for c in table.columns
        if c.default is not None and c.default.is_scalar
    }


def _columns(table: Table, row: Row) -> tuple[Any, ...]:
    return _columns_named(table, tuple(row))


@cache
def _columns_named(table: Table, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(c for c in table.columns if c.name in names)


def _copy(cur: Any, table: Table, rows: Sequence[Row]) -> None:
    columns = _columns(table, rows[0])
    names = ", ".join(c.name for c in columns)
    with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(_values(row, columns))


def _values(row: Row, columns: tuple[Any, ...]) -> list[Any]:
    """A row's values in ``columns``' order, JSON written out (a Python call per JSON value,
    not per value: rows of thousand-order batches pass here)."""
    read, json_at = _shape(columns)
    values = list(read(row))
    for i in json_at:
        if values[i] is not None:
            values[i] = orjson.dumps(values[i]).decode()
    return values


@cache
def _shape(columns: tuple[Any, ...]) -> tuple[Callable[[Row], tuple[Any, ...]], tuple[int, ...]]:
    """How to read the columns' values from a row, and which of them hold JSON (worked out
    once per set of columns)."""
    names = [c.name for c in columns]
    read = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    return read, tuple(i for i, c in enumerate(columns) if isinstance(c.type, JSON))


@cache
def _insert_sql(table: Table, columns: tuple[Any, ...]) -> str:
    names = ", ".join(c.name for c in columns)
    marks = ", ".join("%s" for _ in columns)
    return f"INSERT INTO {table.name} ({names}) VALUES ({marks})"


@cache
def _linked_sql(
    parent: Table, up: tuple[Any, ...], child: Table, down: tuple[Any, ...], link: str
) -> str:
    """Insert a parent row and a child row whose ``link`` names it, in one statement
    (``down``: the child's other columns)."""
    marks = ", ".join("%s" for _ in up)
    values = ", ".join(f"%s::{_pg_type(c)}" for c in down)
    return (
        f"WITH p AS (INSERT INTO {parent.name} ({', '.join(c.name for c in up)}) "
        f"VALUES ({marks}) RETURNING id) "
        f"INSERT INTO {child.name} ({', '.join(c.name for c in down)}, {link}) "
        f"SELECT {values}, p.id FROM p"
    )


@cache
def _update_sql(table: Table, names: tuple[str, ...]) -> str:
    """One UPDATE for many rows: the new values as one JSON array of rows, typed by
    ``json_to_recordset`` and joined by id. (Dumping a column's values as an array parameter
    took the driver a Python call per value; orjson writes the JSON in one.)"""
    typed = ", ".join(f"{c.name} {_pg_type(c)}" for c in (table.c.id, *(table.c[n] for n in names)))
    sets = ", ".join(f"{n} = v.{n}" for n in names)
    return (
        f"UPDATE {table.name} AS t SET {sets} FROM json_to_recordset(%s::json) AS v({typed}) "
        "WHERE t.id = v.id"
    )


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _pg_type(column: Any) -> str:
    return str(column.type.compile(dialect=_PG))


def _recordset(rows: list[Row]) -> list[str]:
    """The rows of an update as ``_update_sql``'s one parameter: aware datetimes as ISO 8601
    with their offset, decimals as their text (which PostgreSQL casts exactly)."""
    return [orjson.dumps(rows, default=str, option=orjson.OPT_NAIVE_UTC).decode()]
