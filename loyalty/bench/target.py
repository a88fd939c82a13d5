"""Where the benchmark runs: a database of its own, never the one in daily use.

On PostgreSQL that is a database named ``loyalty_bench`` (or the URL's own, if its name says
``bench``) on the server in the URL; on SQLite a ``loyalty_bench.db`` file beside the URL's.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url, text

from loyalty.db.engine import normalise_url

BENCH_NAME = "loyalty_bench"
SAFE_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def bench_url(url: str) -> URL:
    """The benchmark's own database next to the one ``url`` names."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(database=str(_sqlite_path(parsed.database)))
    name = parsed.database if parsed.database and "bench" in parsed.database else BENCH_NAME
    if not SAFE_NAME.match(name) or name == "test":
        raise ValueError(f"refusing to benchmark in database {name!r}")
    return parsed.set(database=name)


def _sqlite_path(database: str | None) -> Path:
    if not database or database == ":memory:":
        return Path(f"{BENCH_NAME}.db")
    path = Path(database)
    return path if "bench" in path.name else path.with_name(f"{BENCH_NAME}.db")


def as_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def recreate(url: URL) -> None:
    """Drop the benchmark database if it exists and create it empty."""
    if is_sqlite(url):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)
        return
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        server.dispose()


def exists(url: URL) -> bool:
    if is_sqlite(url):
        return Path(str(url.database)).exists()
    server = create_engine(url.set(database="postgres"))
    try:
        with server.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            ).first()
            return found is not None
    finally:
        server.dispose()
