"""``loyalty bench``: seed a database of its own, measure, print the figures against targets."""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import URL

from loyalty.bench import ceiling, cpu, dashboard, earning, inproc, seed, target, traffic
from loyalty.bench.report import Figure, Report, Target, render
from loyalty.bench.seed import Fixture
from loyalty.bench.server import api_server
from loyalty.config import get_settings
from loyalty.db.base import utcnow
from loyalty.db.engine import Database
from loyalty.runtime import tune_gc

MEASUREMENTS = (
    "orders",
    "keyed-orders",
    "rules-orders",
    "points",
    "batch",
    "floor",
    "ceiling",
    "import",
    "expire",
    "rules",
    "backtest",
    "dashboard",
)
HTTP = ("orders", "keyed-orders", "rules-orders", "points", "batch", "floor")
CORES = os.cpu_count() or 1
# One worker per core. A worker posts single orders in groups on a thread of its own while
# its event loop reads the next requests (``orders.groups``), so it no longer idles while the
# database works; a third worker on 2 cores only made each group smaller. Measured back to
# back: 858 vs 632 orders/s and 3,146 vs 1,630 balance reads/s for 2 vs 3 workers.
WORKERS = CORES

progress = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 160)


def bench(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Server or file to use; default LOYALTY_DATABASE_URL. The bench works in its "
            "own database there (loyalty_bench), dropped and created again.",
        ),
    ] = None,
    members: Annotated[int, typer.Option(help="Members to seed", min=1)] = 100_000,
    entries: Annotated[
        int, typer.Option(help="Earn entries (and lots) to seed", min=1)
    ] = 1_000_000,
    duration: Annotated[float, typer.Option(help="Seconds per HTTP measurement", min=1)] = 10.0,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients (and pgbench)", min=1)] = 16,
    workers: Annotated[
        int | None,
        typer.Option(
            help="API worker processes (default: one per core on PostgreSQL, one on SQLite)",
            min=1,
        ),
    ] = None,
    skip_seed: Annotated[
        bool, typer.Option("--skip-seed", help="Reuse the seeded database")
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help=f"Run only these (repeatable): {', '.join(MEASUREMENTS)}"),
    ] = None,
) -> None:
    """Measure throughput and latency against the targets, on a seeded database of its own."""
    chosen = _chosen(only)
    tune_gc()  # as the server and the jobs run (the import and expiry figures run here)
    load = os.getloadavg()[0]
    url = target.bench_url(database_url or _configured_url())
    db = Database(target.as_text(url), pool_size=4)
    now = utcnow()
    report = Report(f"loyalty bench · {url.get_backend_name()} · {_where(url)}")
    try:
        fx = _prepare(url, db, members, entries, skip_seed, now, report)
        _measure(url, db, fx, chosen, (clients, workers or _workers(url)), duration, report)
        _verify(db, "ledger verify after the bench", report)
    finally:
        db.dispose()
    _notes(report, fx, clients, skip_seed, load)
    render(report, out)
    if any(f.failed() for f in report.figures):
        raise typer.Exit(1)


def _workers(url: URL) -> int:
    """As the server is meant to run: SQLite has one writer, so a second worker only queues
    behind the first (552 vs 589 orders/s, p99 145 vs 49 ms for 2 vs 1)."""
    return 1 if target.is_sqlite(url) else WORKERS


def _configured_url() -> str:
    return get_settings().database_url


def _chosen(only: list[str] | None) -> tuple[str, ...]:
    unknown = sorted(set(only or ()) - set(MEASUREMENTS))
    if unknown:
        raise typer.BadParameter(f"unknown {unknown}; choose from {', '.join(MEASUREMENTS)}")
    return tuple(m for m in MEASUREMENTS if not only or m in only)


def _where(url: URL) -> str:
    if target.is_sqlite(url):
        return str(url.database)
    return f"{url.host}:{url.port or 5432}/{url.database}"


def _prepare(
    url: URL, db: Database, members: int, entries: int, skip: bool, now: datetime, r: Report
) -> Fixture:
    if skip:
        try:
            return seed.existing(db, now)
        except LookupError as exc:
            progress.print(f"[red]--skip-seed: {exc}; run without --skip-seed to seed again.[/red]")
            raise typer.Exit(2) from exc
    target.recreate(url)
    start = time.perf_counter()
    fx = seed.seed(db, members, entries, now, progress)
    seconds = time.perf_counter() - start
    rows = 3 * members + 2 * entries
    note = (
        f"{members:,} members + {2 * members:,} identifiers + {entries:,} entries + "
        f"{entries:,} lots in {seconds:.1f} s"
    )
    r.add(Figure("seed (set-based SQL)", rows / seconds, "rows/s", None, note))
    _verify(db, "ledger verify after seeding", r)
    return fx


def _verify(db: Database, name: str, r: Report) -> None:
    progress.print(f"[bold]{name}…")
    result = seed.check(db)
    note = f"{result.members:,} members checked in {result.seconds:.1f} s"
    progress.print(f"{name}: {result.differences} differences; {note}")
    none = Target(1, below=True, label="0 differences")
    r.add(Figure(name, result.differences, "differences", none, note))


def _measure(
    url: URL,
    db: Database,
    fx: Fixture,
    chosen: tuple[str, ...],
    concurrency: tuple[int, int],
    duration: float,
    r: Report,
) -> None:
    """Every chosen measurement; ``concurrency`` is (HTTP clients, API worker processes)."""
    clients, workers = concurrency
    if any(m in chosen for m in HTTP):
        with api_server(target.as_text(url), workers) as server:
            r.notes.append(f"server: {server.note}{_pool(url)}")
            probes = {"server": lambda: cpu.tree(server.pid), **_db_probe(url)}
            h = traffic.Http(server, fx, clients, duration, progress, probes, db)
            for name in HTTP:
                if name == "rules-orders" and name in chosen:
                    r.add(*traffic.orders_with_rules(h, db))
                elif name == "keyed-orders" and name in chosen:
                    r.add(*traffic.keyed_orders(h))
                elif name in chosen:
                    r.add(*getattr(traffic, name)(h))
    # Each of these pays for its own writes only: the vacuum and checkpoint that the ones
    # before call for are done first (``traffic.settle``), not by the database during it.
    if "ceiling" in chosen:
        traffic.settle(db)
        r.add(_ceiling(url, fx, clients, duration, r))
    if "import" in chosen:
        traffic.settle(db)
        r.add(*inproc.import_orders(db, fx, utcnow(), progress, _db_probe(url)))
    if "expire" in chosen:
        traffic.settle(db)
        r.add(*inproc.expiry(db, utcnow(), progress, _db_probe(url)))
    if "rules" in chosen:
        r.add(*earning.evaluation())
    if "backtest" in chosen:
        r.add(*earning.backtest_and_tiers(db, fx.members, fx.entries, progress))
    if "dashboard" in chosen:
        r.add(*dashboard.measure(db, fx, progress))


def _pool(url: URL) -> str:
    if target.is_sqlite(url):
        return ""
    pool = get_settings().db_pool_size
    return f", database pool {pool} (+{pool} overflow) per worker"


def _db_probe(url: URL) -> dict[str, cpu.Probe]:
    """PostgreSQL's backends, when they run on this machine (SQLite works inside the server)."""
    if target.is_sqlite(url) or url.host not in (None, "127.0.0.1", "localhost", "::1"):
        return {}
    name = str(url.database)
    return {"PostgreSQL": lambda: cpu.backends(name)}


def _ceiling(url: URL, fx: Fixture, clients: int, duration: float, r: Report) -> Figure:
    """The database's own rate for one earn transaction (see ``ceiling``)."""
    progress.print("[bold]database ceiling…")
    if target.is_sqlite(url):
        c = ceiling.sqlite_ceiling(url, fx, duration)
    else:
        c = ceiling.pgbench_ceiling(url, fx, clients, duration)
    r.ceiling = c.tps
    note = f"insert entry + insert lot + update balance, 1 txn; {c.note}"
    return Figure("DB ceiling: one earn txn", c.tps, "tps", None, note)


def _notes(r: Report, fx: Fixture, clients: int, skip: bool, load: float) -> None:
    r.notes.append(
        "client: loyalty.bench.load in its own process, one asyncio (uvloop) loop, raw HTTP/1.1 "
        f"keep-alive connections ({clients} for single orders and reads, "
        f"{min(clients, traffic.BATCH_CLIENTS)} for batches), closed loop, "
        f"{traffic.WARMUP_SECONDS:.0f} s warm-up not counted; till API key bound to the store, "
        "no Idempotency-Key header (order_id is the natural key) but in the keyed measurement, "
        "where each order's key is its order_id"
    )
    r.notes.append(
        f"data: {fx.members:,} members, {fx.entries:,} ledger entries"
        + (" (reused: --skip-seed)" if skip else "")
        + "; orders of one line, earning at the program's default rate"
    )
    r.notes.append(
        "vs DB ceiling: orders/s divided by the database's raw tps for one earn transaction"
    )
    r.notes.append(
        "CPU per order/read: CPU time of the server's processes (and of PostgreSQL's backends, "
        "when local; approximate) during the load, divided by the work done: steadier than "
        "rates on a shared machine"
    )
    r.notes.append(
        f"machine: {CORES} cores shared by the server, the load generator and the database; "
        f"1-minute load average {load:.1f} at the start (other work skews every figure)"
    )
