"""Create or upgrade the schema with Alembic (the migrations ship inside the package)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class ForeignKeyViolationError(RuntimeError):
    """A migration left rows naming rows that do not exist (SQLite's check after it)."""


def alembic_config(url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, action: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()
    with (
        engine.connect() as connection,
        _keys_checked_at_the_end(connection),
        connection.begin(),
    ):
        config.attributes["connection"] = connection
        action(config, revision)
        _check_keys(connection)


@contextmanager
def _keys_checked_at_the_end(connection: Connection) -> Iterator[None]:
    """On SQLite, foreign keys are not enforced during a migration, and checked after it.

    SQLite changes a table's columns or keys by building a new copy and dropping the old one;
    dropping a table that other tables' keys name (orders, by refunds) counts as deleting its
    rows, and no later rename undoes that count, so the commit would fail. SQLite's own
    procedure for such changes is this one: keys off (outside any transaction), the change,
    ``PRAGMA foreign_key_check`` before the commit, keys on again.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise ForeignKeyViolationError(f"{len(broken)} rows name missing rows in {tables}")
