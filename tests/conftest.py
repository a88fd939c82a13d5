"""Test fixtures: a real database (SQLite by default, PostgreSQL when
``LOYALTY_TEST_DATABASE_URL`` names one), migrated with Alembic once per run.

Most tests run inside one transaction that is rolled back at the end (the app and the jobs
see the same connection through ``SharedConnectionDatabase``). Tests of real concurrency use
``committed_db``: separate connections that commit, and the tables are emptied afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from loyalty.db.base import Base
from loyalty.db.engine import Database, normalise_url
from loyalty.db.migrate import upgrade
from loyalty.ledger.verify import verify
from loyalty.programs.service import ensure_program
from loyalty.wallet.verify import verify_wallets

# CI explores the same examples every run (a red build always means a change broke something);
# local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

START = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Shanghai


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def _database_url(tmp_root: Path) -> tuple[str, str | None]:
    """The URL to test against, and the server-side database to drop afterwards."""
    url = os.environ.get("LOYALTY_TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        return f"sqlite:///{tmp_root / 'test.db'}", None
    name = f"loyalty_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return normalise_url(url).rsplit("/", 1)[0] + "/" + name, name


def _drop(created: str | None) -> None:
    if not created:
        return
    admin = create_engine(
        normalise_url(os.environ["LOYALTY_TEST_DATABASE_URL"]), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    url, created = _database_url(tmp_path_factory.mktemp("db"))
    db = Database(url, pool_size=30)
    upgrade(db.engine)
    with db.transaction() as session:
        ensure_program(session, START)
    yield db
    db.dispose()
    _drop(created)


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[Database]:
    """A database of its own with no schema yet (for tests of the migrations themselves)."""
    url, created = _database_url(tmp_path)
    db = Database(url)
    yield db
    db.dispose()
    _drop(created)


class SharedConnectionDatabase(Database):
    """A ``Database`` whose sessions all run in savepoints of one outer transaction."""

    def __init__(self, connection: Connection, real: Database) -> None:
        self.engine = real.engine
        self.connection = connection
        factory = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        self.writer = factory
        self.reader = factory

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.writer() as session, session.begin():
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        with self.connection.begin_nested():
            yield self.connection


@pytest.fixture
def db(database: Database) -> Iterator[SharedConnectionDatabase]:
    with database.engine.connect() as connection:
        outer = connection.begin()
        yield SharedConnectionDatabase(connection, database)
        outer.rollback()


@pytest.fixture
def session(db: SharedConnectionDatabase) -> Iterator[Session]:
    with db.writer() as s:
        yield s


@pytest.fixture
def committed_db(database: Database) -> Iterator[Database]:
    """The real database with real commits; emptied and given a fresh program afterwards."""
    yield database
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
    with database.transaction() as session:
        ensure_program(session, START)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Each test starts with no sign-in attempts counted against its address."""
    from loyalty.web.security import RateLimiter

    RateLimiter.reset_all()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def assert_balanced(session: Session) -> None:
    """The ledger invariant: cache = entries = lots (+ debt) for every member; wallets too."""
    session.flush()
    problems = verify(session) + verify_wallets(session)
    assert problems == [], problems


@pytest.fixture
def app(db: SharedConnectionDatabase, clock: Clock):  # type: ignore[no-untyped-def]
    from loyalty.api.app import create_app

    return create_app(db, clock=clock.now)


@pytest.fixture
def api(app, session: Session):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from tests.factories import Api, key_for

    return Api(TestClient(app, raise_server_exceptions=False), key_for(session))


@pytest.fixture
def live_api(committed_db: Database) -> Iterator[tuple[str, str]]:
    """The app served over real HTTP by uvicorn (a thread), on committed data: (url, key)."""
    import socket
    import threading
    import time

    import uvicorn

    from loyalty.api.app import create_app
    from loyalty.apikeys.service import create_key

    with committed_db.transaction() as s:
        _, token = create_key(s, 1, "live", "admin", None, START)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(
        uvicorn.Config(create_app(committed_db), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(5)
