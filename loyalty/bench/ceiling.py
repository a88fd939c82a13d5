"""The database's own ceiling for one earn: insert an entry, insert its lot, update the balance.

PostgreSQL: ``pgbench`` runs those three statements as one transaction with a custom script,
against the seeded tables, with the same number of clients as the HTTP measurement. SQLite: the
same three statements in a tight loop with the ``sqlite3`` module, one transaction each (SQLite
has one writer at a time, so one connection is its ceiling).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL

from loyalty.bench.seed import Fixture

PGBENCH_SCRIPT = """\\set mid random(1, :members)
\\set pts random(1, 200)
BEGIN;
INSERT INTO points_entries (program_id, member_id, kind, points, occurred_at, recorded_at,
  source_type, source_id, store_id, channel, description, expires_at)
  VALUES (:program, :mid, 'earn', :pts, now(), now(), 'order', 'pgbench', :store, 'store',
  'pgbench', now() + interval '365 days');
INSERT INTO points_lots (program_id, member_id, entry_id, source_type, source_id, points,
  remaining, state, earned_at, expires_at)
  VALUES (:program, :mid, currval('points_entries_id_seq'), 'order', 'pgbench', :pts, :pts,
  'available', now(), now() + interval '365 days');
UPDATE members SET points_available = points_available + :pts,
  lifetime_earned = lifetime_earned + :pts WHERE id = :mid;
END;
"""

SQLITE_STATEMENTS = (
    "INSERT INTO points_entries (program_id, member_id, kind, points, occurred_at, recorded_at,"
    " source_type, source_id, store_id, channel, description, expires_at)"
    " VALUES (?, ?, 'earn', ?, ?, ?, 'order', 'ceiling', ?, 'store', 'ceiling', ?)",
    "INSERT INTO points_lots (program_id, member_id, entry_id, source_type, source_id, points,"
    " remaining, state, earned_at, expires_at)"
    " VALUES (?, ?, ?, 'order', 'ceiling', ?, ?, 'available', ?, ?)",
    "UPDATE members SET points_available = points_available + ?,"
    " lifetime_earned = lifetime_earned + ? WHERE id = ?",
)


@dataclass(frozen=True)
class Ceiling:
    tps: float
    note: str


def pgbench_ceiling(url: URL, fx: Fixture, clients: int, seconds: float) -> Ceiling:
    """``pgbench -M prepared`` with the three-statement earn, ``clients`` connections."""
    binary = shutil.which("pgbench")
    if binary is None:
        raise FileNotFoundError("pgbench is not installed (apt-get install postgresql-client)")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "earn.sql"
        script.write_text(PGBENCH_SCRIPT)
        out = subprocess.run(
            [binary, *_pgbench_args(url, fx, clients, seconds), "-f", str(script)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PGPASSWORD": url.password or ""},
        ).stdout
    found = re.search(r"tps = ([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps:\n{out}")
    threads = min(clients, os.cpu_count() or 1)
    return Ceiling(float(found.group(1)), f"pgbench -M prepared -c {clients} -j {threads}")


def _pgbench_args(url: URL, fx: Fixture, clients: int, seconds: float) -> list[str]:
    return [
        "-n",
        "-M",
        "prepared",
        f"-c{clients}",
        f"-j{min(clients, os.cpu_count() or 1)}",
        f"-T{max(1, round(seconds))}",
        f"-h{url.host or '127.0.0.1'}",
        f"-p{url.port or 5432}",
        f"-U{url.username or 'postgres'}",
        f"-Dmembers={fx.members}",
        f"-Dprogram={fx.program_id}",
        f"-Dstore={fx.store_id}",
        str(url.database),
    ]


def sqlite_ceiling(url: URL, fx: Fixture, seconds: float) -> Ceiling:
    """The three statements, one transaction each, for ``seconds`` on one connection."""
    conn = sqlite3.connect(str(url.database), isolation_level=None, timeout=30)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    done, stop = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    try:
        while time.perf_counter() < stop:
            _sqlite_earn(conn, fx, done)
            done += 1
    finally:
        conn.close()
    tps = done / (time.perf_counter() - start)
    return Ceiling(tps, "sqlite3 module, 1 connection, WAL, synchronous=NORMAL")


def _sqlite_earn(conn: sqlite3.Connection, fx: Fixture, n: int) -> None:
    member, points = 1 + (n * 7919) % fx.members, 1 + n % 200
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    expires = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(time.time() + 365 * 86400))
    entry, lot, balance = SQLITE_STATEMENTS
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute(entry, (fx.program_id, member, points, now, now, fx.store_id, expires))
    conn.execute(lot, (fx.program_id, member, cur.lastrowid, points, points, now, expires))
    conn.execute(balance, (points, points, member))
    conn.execute("COMMIT")
