"""Engines and sessions for SQLite (WAL, serialised writers) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "loyalty_read_only"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` URLs and use psycopg 3 for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo)
    # Many-row inserts go through psycopg's own executemany (prepared, pipelined): one short
    # statement it can cache, rather than a rewritten statement with thousands of parameters
    # that it parses again for every batch.
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        echo=echo,
        use_insertmanyvalues=False,
        json_serializer=_json_dumps,
        # Times come back in UTC whatever the server's setting (the program's zone is applied
        # where a local day matters), as the driver's own UTC, which converts for free.
        connect_args={"options": "-c TimeZone=UTC"},
    )
    _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle a while.

    A busy pool's connections were used a moment ago, so pinging each checkout (a round trip
    per request) buys nothing; one idle long enough for the server to have restarted or a
    firewall to have dropped it is pinged, and replaced if dead. A connection that breaks while
    in use invalidates the whole pool, as with any disconnect.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError("pooled connection is dead") from exc
        if not alive:
            raise DisconnectionError("pooled connection is dead")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_engine(url: str, echo: bool) -> Engine:
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front, so two read-then-write transactions never interleave:
        # that is what makes balance checks safe on SQLite. Reads begin deferred.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """An engine with a writer and a reader session factory."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.engine = make_engine(url, pool_size=pool_size, echo=echo)
        self.writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader_engine = self.engine.execution_options(**{READ_ONLY: True})
        self.reader = sessionmaker(self._reader_engine, expire_on_commit=False)
        self._autocommit = (
            self._reader_engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else None
        )
        self._kept: dict[int, Connection] = {}  # snapshot connections, by thread
        # SQLite has one writer at a time. Queue this process's writers on a lock rather than
        # in SQLite's busy handler, which sleeps and retries (up to 100 ms a nap) and so lets
        # an unlucky writer wait for a second while others come and go.
        self._writers: AbstractContextManager[object] = (
            threading.RLock() if self.dialect == "sqlite" else nullcontext()
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The URL this database was opened with, password included (for another process)."""
        return self.engine.url.render_as_string(hide_password=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A writing session that commits on success and rolls back on any error."""
        with self._writers, self.writer() as session, session.begin():
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A bare connection for the hottest reads: one statement, which sees one consistent
        snapshot by itself. No ORM session to set up (a third of a balance read's CPU) and,
        on PostgreSQL, no BEGIN and ROLLBACK round trips around it (autocommit).

        On PostgreSQL each thread keeps its connection (in the server: the event loop's, where
        these reads run one at a time), so a read takes none from the pool and gives none
        back (a tenth of its CPU). One that broke is dropped and the next read opens another.
        """
        if self._autocommit is None:
            with self._reader_engine.connect() as conn, conn.begin():
                yield conn
            return
        thread = threading.get_ident()
        kept = self._kept.get(thread)
        if kept is None or not _usable(kept):
            kept = self._kept[thread] = self._autocommit.connect()
        conn = kept
        conn.info["used"] = time.monotonic()
        try:
            yield conn
        except Exception:
            if _broken(conn):
                self._kept.pop(thread, None)
                conn.invalidate()
            raise

    def dispose(self) -> None:
        for conn in self._kept.values():
            conn.close()
        self._kept.clear()
        self.engine.dispose()


def _usable(conn: Connection) -> bool:
    """A kept connection as the pool treats its own: pinged only if it sat idle a while
    (``_ping_when_idle``); a dead one is invalidated."""
    if conn.invalidated or conn.closed:
        return False
    if time.monotonic() - conn.info.get("used", 0.0) < IDLE_PING_SECONDS:
        return True
    try:
        conn.exec_driver_sql("SELECT 1")
    except Exception:
        conn.invalidate()
        return False
    return True


def _broken(conn: Connection) -> bool:
    """Whether the driver's connection under ``conn`` can no longer be used."""
    if conn.invalidated or conn.closed:
        return True
    driver = conn.connection.driver_connection
    return bool(getattr(driver, "broken", False) or getattr(driver, "closed", False))


def any_of(
    column: Any, item_type: Any, postgres: bool, *, name: str = "ids", value: Any = None
) -> ColumnElement[bool]:
    """``column IN (ids)``: on PostgreSQL one array parameter (``= ANY``), so the statement
    is the same, compiled and parsed once, whatever the number of ids; elsewhere an expanding
    ``IN``. Bound at execution under ``name``, or now to ``value``."""
    kind: dict[str, Any] = {"type_": ARRAY(item_type)} if postgres else {"expanding": True}
    if value is None:
        param = bindparam(name, **kind)
    else:
        param = bindparam(name, value, unique=True, **kind)
    return column == any_(param) if postgres else column.in_(param)  # type: ignore[no-any-return]


def fetch_all(conn: Connection, statement: Executable, params: dict[str, Any]) -> list[Any]:
    """Rows (plain tuples) of a prebuilt statement: on psycopg straight through the driver's
    cursor with the SQL compiled once, half the CPU of a SQLAlchemy execution (which matters
    for the hottest reads only); elsewhere as usual."""
    if conn.dialect.name != "postgresql":
        return [tuple(row) for row in conn.execute(statement, params)]
    sql, defaults = _compiled(statement, conn.dialect)
    with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(sql, {**defaults, **params})
        return list(cur.fetchall())


_COMPILED: dict[tuple[int, str], tuple[str, dict[str, Any]]] = {}


def _compiled(statement: Executable, dialect: Any) -> tuple[str, dict[str, Any]]:
    key = (id(statement), dialect.name)
    if key not in _COMPILED:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        _COMPILED[key] = (str(compiled), dict(compiled.params))
    return _COMPILED[key]


def generic_plans(session: Session) -> None:
    """For the rest of this transaction, statements the driver has prepared keep one plan.

    PostgreSQL plans a prepared statement anew at every execution when its estimate with the
    given values beats the generic plan's, which it always does for ``= ANY(array)``: the
    orders' look-up planned for 0.24 ms to run for 0.02. The statements of posting orders
    look rows up by key, where one plan serves every value. Sent straight through the driver:
    as an ORM execution it cost the client more than the round trip.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        driver.execute("SET LOCAL plan_cache_mode = force_generic_plan")  # type: ignore[union-attr]
