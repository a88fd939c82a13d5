"""The console dashboard on the seeded journal: the rollups job's first run over every entry,
then the dashboard's queries, which must answer in under a second."""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from loyalty.analytics.queries import Period, Stores, dashboard, read_marks
from loyalty.analytics.rollups import run_rollups
from loyalty.bench.report import Figure, Target
from loyalty.bench.seed import Fixture
from loyalty.db.base import utcnow
from loyalty.db.engine import Database
from loyalty.ledger.models import Entry
from loyalty.programs.service import get_program

RUNS = 5
LIMIT_MS = 1000.0


def measure(db: Database, fx: Fixture, console: Console) -> list[Figure]:
    """Cold dashboard (journal only, if not rolled up yet), the job, then warm dashboards."""
    today = utcnow().astimezone(ZoneInfo(_zone(db, fx))).date()
    month = Period.ending(today)
    figures = []
    if _unrolled(db, fx):
        seconds = _time(db, fx, month, None)
        note = "before the rollups job: every entry read from the journal"
        figures.append(Figure("dashboard, no rollups yet", seconds * 1000, "ms", None, note))
    figures.append(_rollups(db, console))
    figures.append(_dashboard(db, fx, "dashboard: 30 days, whole chain", month, None))
    one = frozenset({fx.store_id})
    figures.append(_dashboard(db, fx, "dashboard: 30 days, one store", month, one))
    # A year is shown, not judged: the target is the dashboard as it opens.
    year = _dashboard(db, fx, "dashboard: 365 days, whole chain", Period.ending(today, 365), None)
    return [*figures, replace(year, target=None)]


def _zone(db: Database, fx: Fixture) -> str:
    with db.reader() as session:
        return get_program(session, fx.program_id).timezone


def _unrolled(db: Database, fx: Fixture) -> int:
    with db.reader() as session:
        after = read_marks(session, fx.program_id).entries
        return session.scalar(select(func.count()).where(Entry.id > after)) or 0


def _rollups(db: Database, console: Console) -> Figure:
    with Progress(
        TextColumn("[bold]rollups job"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("rollups", total=None)
        start = time.perf_counter()
        result = run_rollups(db, utcnow(), lambda r: bar.advance(task, r.rows))
        seconds = time.perf_counter() - start
    if not result.rows:
        return Figure("rollups job", None, "entries/s", None, "nothing new (already rolled up)")
    note = (
        f"{result.rows:,} entries and {result.members:,} members folded in {seconds:.1f} s "
        "(first run over the whole journal, chunks of 50,000 ids)"
    )
    return Figure("rollups job", result.rows / seconds, "entries/s", None, note)


def _time(db: Database, fx: Fixture, period: Period, stores: Stores) -> float:
    """Seconds for one dashboard, in its own read transaction, as a page request does it."""
    start = time.perf_counter()
    with db.reader() as session:
        dashboard(session, get_program(session, fx.program_id), period, stores)
    return time.perf_counter() - start


def _dashboard(db: Database, fx: Fixture, name: str, period: Period, stores: Stores) -> Figure:
    _time(db, fx, period, stores)  # warm the caches, as a page opened before would
    runs = [_time(db, fx, period, stores) * 1000 for _ in range(RUNS)]
    note = f"worst of {RUNS}; median {statistics.median(runs):.0f} ms; {_label(period)}"
    return Figure(name, max(runs), "ms", Target(LIMIT_MS, below=True), note)


def _label(period: Period) -> str:
    return f"{period.first.isoformat()} to {period.last.isoformat()}"
