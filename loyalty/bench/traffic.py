"""Measurements over real HTTP: the load generator in its own process against the server."""

from __future__ import annotations

import dataclasses
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import distinct, func, select

from loyalty.bench import cpu
from loyalty.bench.earning import fifty_enabled
from loyalty.bench.inproc import history, order_request
from loyalty.bench.load import Result, Spec
from loyalty.bench.report import Figure, Target
from loyalty.bench.seed import Fixture
from loyalty.bench.server import Server, connections_per_worker
from loyalty.db.base import utcnow
from loyalty.db.engine import Database
from loyalty.orders.groups import post_group
from loyalty.orders.models import Order
from loyalty.programs.cache import TTL_SECONDS

BATCH_SIZE = 1000
BATCH_CLIENTS = 4
WARMUP_SECONDS = 2.0


@dataclass(frozen=True)
class Http:
    """Everything an HTTP measurement needs; ``probes`` name the processes whose CPU counts."""

    server: Server
    fx: Fixture
    clients: int
    seconds: float
    console: Console
    probes: dict[str, cpu.Probe]
    db: Database


@dataclass(frozen=True)
class Load:
    """What the clients saw, and the CPU each unit (request or order) cost each process;
    ``run_id`` begins the id of every order the load posted."""

    result: Result
    cpu_ms: dict[str, float]
    run_id: str = ""
    spread: list[int] = dataclasses.field(default_factory=list)

    @property
    def spread_note(self) -> str:
        """The connections each worker held, when there are several (the kernel's draw)."""
        if len(self.spread) < 2:
            return ""
        return f", connections per worker {'/'.join(str(n) for n in self.spread)}"

    @property
    def rate(self) -> float:
        return self.result.units / self.result.seconds if self.result.seconds else 0.0

    def cpu_note(self, unit: str) -> str:
        return cpu.note(self.cpu_ms, unit)


def spec(h: Http, kind: str, clients: int) -> Spec:
    occurred = datetime.now(UTC) - timedelta(minutes=1)
    return Spec(
        host=h.server.host,
        port=h.server.port,
        token=h.fx.token,
        kind=kind,
        clients=clients,
        seconds=h.seconds,
        warmup=min(WARMUP_SECONDS, h.seconds),
        members=h.fx.members,
        store_code=h.fx.store_code,
        run_id=f"bench-{kind}-{secrets.token_hex(4)}",
        occurred_at=occurred.isoformat(timespec="seconds"),
        batch_size=BATCH_SIZE,
    )


def run_load(
    s: Spec, label: str, console: Console, look: Callable[[], list[int]] | None = None
) -> tuple[Result, list[int]]:
    """Run the load generator process, with a progress bar while it works; ``look`` is called
    once, a second after the warm-up (the connections each server worker holds)."""
    command = [
        sys.executable,
        "-m",
        "loyalty.bench.load",
        orjson.dumps(dataclasses.asdict(s)).decode(),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    total = s.warmup + s.seconds
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        task = bar.add_task(label, total=total)
        start = time.monotonic()
        seen: list[int] = []
        while proc.poll() is None:
            elapsed = time.monotonic() - start
            bar.update(task, completed=min(elapsed, total))
            if look and not seen and elapsed > s.warmup + 1:
                seen = look()
            time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{err.decode(errors='replace')}")
    return Result(**orjson.loads(out)), seen


def measure(h: Http, kind: str, clients: int, label: str) -> Load:
    """One load, with the CPU it cost; if any request failed, show what the server said."""
    meter, client = cpu.Meter(h.probes), cpu.children()
    s = spec(h, kind, clients)
    r, spread = run_load(s, label, h.console, lambda: connections_per_worker(h.server))
    per_unit = meter.per_unit(r.total_units)
    if r.total_units:
        per_unit["load generator"] = 1000 * (cpu.children() - client) / r.total_units
    if r.errors:
        h.console.print(f"[red]{label}: {r.errors} failed requests; the server's log ends:[/red]")
        h.console.print(h.server.log_tail(), markup=False, highlight=False)
    return Load(r, per_unit, s.run_id, spread)


def orders_per_commit(db: Database, run_id: str) -> float:
    """How many orders shared a transaction (``orders.groups``): a transaction's orders carry
    its one ``created_at``, so distinct times count the commits."""
    with db.reader() as session:
        orders, commits = session.execute(
            select(func.count(), func.count(distinct(Order.created_at))).where(
                Order.order_id.like(f"{run_id}-%")
            )
        ).one()
    return orders / commits if commits else 0.0


def _errors(r: Result) -> str:
    if not r.errors:
        return "no errors"
    return f"{r.errors} errors {r.statuses} (status 0: connection dropped)"


def orders(h: Http) -> list[Figure]:
    load = measure(h, "orders", h.clients, "POST /v1/orders")
    r = load.result
    return [
        Figure(
            "POST /v1/orders (single)",
            load.rate,
            "orders/s",
            Target(1000),
            _single_note(h, load),
            sound=r.errors == 0,
            per_ceiling=True,
        ),
        Figure("  latency p50", r.p50_ms, "ms", None, f"{h.clients} concurrent clients"),
        Figure("  latency p99", r.p99_ms, "ms", Target(50, below=True), "client-side, end to end"),
    ]


def keyed_orders(h: Http) -> list[Figure]:
    """Single orders each sent with an ``Idempotency-Key``, as careful tills do."""
    load = measure(h, "keyed", h.clients, "POST /v1/orders, Idempotency-Key")
    r = load.result
    note = f"{_single_note(h, load)}; p99 {r.p99_ms:.1f} ms"
    name = "POST /v1/orders with Idempotency-Key"
    return [Figure(name, load.rate, "orders/s", None, note, sound=r.errors == 0)]


def _single_note(h: Http, load: Load) -> str:
    r = load.result
    shared = orders_per_commit(h.db, load.run_id)
    return (
        f"{h.clients} clients{load.spread_note}, {r.requests:,} requests, {_errors(r)}, "
        f"{shared:.1f} orders per transaction{load.cpu_note('order')}"
    )


def points(h: Http) -> list[Figure]:
    load = measure(h, "points", h.clients, "GET /v1/members/{id}/points")
    r = load.result
    note = (
        f"{h.clients} clients{load.spread_note}, random member, p50 {r.p50_ms:.1f} ms, "
        f"p99 {r.p99_ms:.1f} ms, "
        f"{_errors(r)}{load.cpu_note('read')}"
    )
    return [
        Figure(
            "GET /v1/members/{id}/points", load.rate, "reads/s", Target(3000), note, r.errors == 0
        )
    ]


def batch(h: Http) -> list[Figure]:
    n = min(h.clients, BATCH_CLIENTS)
    load = measure(h, "batch", n, "POST /v1/orders/batch")
    r = load.result
    note = (
        f"{BATCH_SIZE:,} orders/request, {n} clients, {r.requests} requests, "
        f"p50 {r.p50_ms:,.0f} ms, p99 {r.p99_ms:,.0f} ms, {_errors(r)}{load.cpu_note('order')}"
    )
    sound = r.errors == 0 and r.units == r.requests * BATCH_SIZE
    return [
        Figure(
            "POST /v1/orders/batch",
            load.rate,
            "orders/s",
            Target(10_000),
            note,
            sound=sound,
            per_ceiling=True,
        )
    ]


def floor(h: Http) -> list[Figure]:
    """``GET /healthz``: what the HTTP stack alone serves on this machine, no database."""
    load = measure(h, "health", h.clients, "GET /healthz")
    r = load.result
    note = f"HTTP stack alone: {h.clients} clients, p99 {r.p99_ms:.1f} ms{load.cpu_note('request')}"
    return [Figure("HTTP floor: GET /healthz", load.rate, "req/s", None, note, r.errors == 0)]


def orders_with_rules(h: Http, db: Database) -> list[Figure]:
    """Single orders and batches with 50 rules enabled against the same without, measured
    without, with, with, without, each side's two measurements taken together.

    The rules are the evaluation figure's fifty; the bench's orders (one line of food at the
    bench store, 10 to 500 yuan) meet the ``min_amount`` ones most of the time (10 rules), and
    the weekday ones on Wednesdays: a busy campaign calendar, not a worst case. The drop is
    judged on capacity, the CPU an order costs the server and the database (rates on a shared
    machine move more with the neighbours than with the rules); both rates are shown beside.

    Single orders are compared in this process, posted in groups of ``GROUP`` through the
    server's own path (``orders.groups``). Over HTTP an order's CPU depends on how many orders
    share its transaction, and slower orders make bigger groups: the comparison would measure
    the grouping, not the rules (two such runs read -21 % and -29 %).
    """

    def settled_batches(label: str) -> Load:
        settle(db)
        return measure(h, "batch", BATCH_CLIENTS, label)

    def settled_groups() -> Load:
        settle(db)
        return grouped_orders(db, h.fx, {k: p for k, p in h.probes.items() if k != "server"})

    def both(rules: str) -> tuple[Load, Load]:
        return settled_groups(), settled_batches(f"batches, {rules}")

    # Without, with, with, without: the database grows and the neighbours come and go over the
    # minutes this takes; in that order a drift weighs on both sides alike.
    first = both("no rules")
    with fifty_enabled(db, h.fx.program_id):
        time.sleep(TTL_SECONDS + 0.5)  # every worker's rule cache sees them
        ruled = [combined(a, b) for a, b in zip(both("50 rules"), both("50 rules"), strict=True)]
    time.sleep(TTL_SECONDS + 0.5)  # and sees them gone
    plain = [combined(a, b) for a, b in zip(first, both("no rules"), strict=True)]
    labels = (f"single orders in groups of {GROUP}", "batches")
    return [_drop(label, p, r) for label, p, r in zip(labels, plain, ruled, strict=True)]


def combined(a: Load, b: Load) -> Load:
    """Two measurements of one load as one: units and time added, CPU per unit weighted."""
    units = a.result.units + b.result.units
    result = Result(
        requests=a.result.requests + b.result.requests,
        units=units,
        errors=a.result.errors + b.result.errors,
        seconds=a.result.seconds + b.result.seconds,
        total_units=a.result.total_units + b.result.total_units,
    )
    names = a.cpu_ms.keys() | b.cpu_ms.keys()
    spent = {
        n: (a.cpu_ms.get(n, 0.0) * a.result.units + b.cpu_ms.get(n, 0.0) * b.result.units)
        for n in names
    }
    return Load(result, {n: ms / units for n, ms in spent.items()} if units else {})


GROUP = 8  # orders per transaction that the bench's 16 tills make on one worker
GROUPED_ORDERS = 5_000  # a few seconds each: CPU probes of a second or two scattered by ±20 %


def grouped_orders(db: Database, fx: Fixture, probes: dict[str, cpu.Probe]) -> Load:
    """``GROUPED_ORDERS`` single orders posted ``GROUP`` to a transaction, as a worker does."""
    rows = history(fx, GROUPED_ORDERS, datetime.now(UTC) - timedelta(minutes=1))
    orders = [order_request(row) for row in rows]
    meter = cpu.Meter({"bench process": cpu.this_process, **probes})
    start, posted = time.perf_counter(), 0
    for i in range(0, len(orders), GROUP):
        outcomes = post_group(db, utcnow, fx.program_id, orders[i : i + GROUP])
        posted += sum(1 for o in outcomes if o.status == 201)
    seconds = time.perf_counter() - start
    errors = len(orders) - posted
    result = Result(
        requests=len(orders), units=posted, errors=errors, seconds=seconds, total_units=posted
    )
    return Load(result, meter.per_unit(posted))


WRITTEN = ("orders", "points_entries", "points_lots", "members", "outbox_events")


def settle(db: Database) -> None:
    """Before one of two measurements compared with each other: the vacuum, statistics and
    checkpoint the last one's writes call for, done now, rather than by the database during
    the next (whose CPU per order they would inflate: one side of a comparison paid for the
    other's writes)."""
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            auto = conn.execution_options(isolation_level="AUTOCOMMIT")
            auto.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(WRITTEN)}")
            auto.exec_driver_sql("CHECKPOINT")
        else:  # outside any transaction, or SQLite refuses
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]


def _drop(label: str, plain: Load, ruled: Load) -> Figure:
    before, after = _work_ms(plain), _work_ms(ruled)
    drop = 100 * (1 - before / after) if after else 100.0
    note = (
        f"CPU per order (server + database) {after:.2f} ms with 50 rules vs {before:.2f} ms "
        f"without; rates back to back {ruled.rate:,.0f} vs {plain.rate:,.0f} orders/s"
        f"{ruled.cpu_note('order with rules')}{plain.cpu_note('order without')}"
    )
    sound = ruled.result.errors == 0 and plain.result.errors == 0
    name = f"capacity drop, 50 rules, {label}"
    return Figure(name, drop, "%", Target(20, below=True), note, sound=sound)


def _work_ms(load: Load) -> float:
    return sum(ms for name, ms in load.cpu_ms.items() if name != "load generator")
