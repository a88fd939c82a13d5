"""Measurements in this process: the expiry job and an import of order history."""

from __future__ import annotations

import csv
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from loyalty.bench import cpu
from loyalty.bench.report import Figure, Target
from loyalty.bench.seed import Fixture
from loyalty.bench.sql import EXPIRY_DAYS
from loyalty.db.engine import Database
from loyalty.jobs.registry import lanes
from loyalty.ledger.jobs import CHUNK_MEMBERS, JobResult, expire_lots
from loyalty.ledger.models import Lot
from loyalty.orders.service import OrderRequest, fingerprint, post_orders
from loyalty.programs.service import get_program
from loyalty.rules.engine import OrderLine

IMPORT_CHUNK = 1000
MAX_IMPORT = 100_000  # an import of history is a long job: a few seconds would time the start


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


# --- expiry ------------------------------------------------------------------------------------


def expiry(
    db: Database, now: datetime, console: Console, probes: dict[str, cpu.Probe]
) -> list[Figure]:
    """Run ``expire_lots`` as of a time past every lot's expiry; lots expired per second."""
    as_of = now + timedelta(days=EXPIRY_DAYS + 35)
    with db.reader() as session:
        due = session.scalar(select(func.count()).where(Lot.remaining > 0, Lot.expires_at <= as_of))
    with _bar(console) as bar:
        task = bar.add_task("expire job", total=due or 0)
        meter = cpu.Meter({"bench process": cpu.this_process, **probes})
        start = time.perf_counter()
        ways = lanes(db)
        result = expire_lots(db.transaction, as_of, now, lambda r: bar.advance(task, r.rows), ways)
        seconds = time.perf_counter() - start
    return [_expiry_figure(result, seconds, meter.per_unit(result.rows), ways)]


def _expiry_figure(
    result: JobResult, seconds: float, cpu_ms: dict[str, float], ways: int
) -> Figure:
    if not result.rows:
        return Figure(
            "expire job", None, "lots/s", Target(200_000), "no lots due (already expired)"
        )
    cpu_us = {name: ms * 1000 for name, ms in cpu_ms.items()}
    note = (
        f"{result.rows:,} lots of {result.members:,} members in {seconds:.1f} s, "
        f"chunks of {CHUNK_MEMBERS:,} members in {ways} lane(s)"
        f"{cpu.note(cpu_us, 'lot', 'µs')}"
    )
    return Figure(
        "expire job (expire_lots)", result.rows / seconds, "lots/s", Target(200_000), note
    )


# --- import ------------------------------------------------------------------------------------


def history(fx: Fixture, count: int, occurred: datetime) -> Iterator[dict[str, Any]]:
    """``count`` old orders as an export would list them: JSON-like rows."""
    rng = random.Random(count)
    run = secrets.token_hex(4)
    for n in range(count):
        amount = rng.randint(1_000, 50_000)
        yield {
            "order_id": f"import-{run}-{n}",
            "member_id": rng.randint(1, fx.members),
            "store_code": fx.store_code,
            "occurred_at": (occurred - timedelta(seconds=n)).isoformat(),
            "amount": amount,
            "payment_method": "card",
            "lines": [
                {"sku": f"SKU{amount % 97}", "category": "food", "quantity": 1, "amount": amount}
            ],
        }


def order_request(row: dict[str, Any]) -> OrderRequest:
    return OrderRequest(
        order_id=row["order_id"],
        member_id=row["member_id"],
        amount=row["amount"],
        occurred_at=datetime.fromisoformat(row["occurred_at"]),
        store_code=row["store_code"],
        payment_method=row["payment_method"],
        lines=tuple(OrderLine(**line) for line in row["lines"]),
        request_hash=fingerprint(row),
    )


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def post_in_batches(
    db: Database, fx: Fixture, count: int, now: datetime, advance: Callable[[int], None]
) -> int:
    """Post ``count`` orders through ``post_orders``, 1,000 per transaction; how many earned."""
    posted = 0
    for chunk in _chunks(history(fx, count, now - timedelta(days=1)), IMPORT_CHUNK):
        requests = [order_request(row) for row in chunk]
        with db.transaction() as session:
            program = get_program(session, fx.program_id)
            outcomes = post_orders(session, program, requests, now)
        posted += sum(1 for o in outcomes if o.status == 201)
        advance(len(chunk))
    return posted


def import_orders(
    db: Database, fx: Fixture, now: datetime, console: Console, probes: dict[str, cpu.Probe]
) -> list[Figure]:
    """Import order history: ``loyalty import orders`` on a generated CSV when the package has
    it, else the same orders in batches through ``post_orders``."""
    count = min(MAX_IMPORT, max(fx.entries // 10, IMPORT_CHUNK))
    with _bar(console) as bar:
        task = bar.add_task("import", total=count)
        meter = cpu.Meter({"bench process": cpu.this_process, **probes})
        try:
            posted, seconds, how = csv_import(db, fx, count, now, lambda n: bar.advance(task, n))
        except ImportError:
            start = time.perf_counter()
            posted = post_in_batches(db, fx, count, now, lambda n: bar.advance(task, n))
            seconds, how = time.perf_counter() - start, _BATCHES
    note = f"{count:,} orders in {seconds:.1f} s; {how}{cpu.note(meter.per_unit(count), 'order')}"
    figure = Figure(
        "import (orders)",
        posted / seconds,
        "orders/s",
        Target(20_000),
        note,
        sound=posted == count,
        per_ceiling=True,
    )
    return [figure]


_BATCHES = (
    f"no 'loyalty import' here: batches of {IMPORT_CHUNK:,} through post_orders, one "
    "transaction each"
)


def csv_import(
    db: Database, fx: Fixture, count: int, now: datetime, advance: Callable[[int], None]
) -> tuple[int, float, str]:
    """Write ``count`` orders as the old system's CSV and time ``loyalty import orders`` on it."""
    from loyalty.imports.orders import default_lanes
    from loyalty.imports.orders import import_orders as import_csv

    lanes = default_lanes(db, count)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        write_csv(path, history(fx, count, now - timedelta(days=1)))
        start = time.perf_counter()
        result = import_csv(
            db, fx.program_id, path, now, restart=True, lanes=lanes, on_progress=advance
        )
        seconds = time.perf_counter() - start
    how = (
        "loyalty import orders on a CSV (member by card_no, amount in yuan), parsing "
        f"included, {lanes} lane(s)"
    )
    return result.imported, seconds, how


def write_csv(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    columns = ["order_id", "card_no", "store_code", "occurred_at", "amount", "payment_method"]
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(columns)
        for r in rows:
            yuan = f"{r['amount'] // 100}.{r['amount'] % 100:02d}"
            card = f"C{r['member_id']:09d}"
            out.writerow(
                [r["order_id"], card, r["store_code"], r["occurred_at"], yuan, r["payment_method"]]
            )
