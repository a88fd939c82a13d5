"""``loyalty import members|orders FILE.csv``: history from the old system.

Exit codes: 0 when the file was imported to the end (rejected rows included), 2 when the file
is missing or unreadable or lacks a required column (nothing is written then).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from loyalty.cli.common import console, default_program_id, open_db
from loyalty.db.base import utcnow
from loyalty.db.engine import Database
from loyalty.imports import members as member_import
from loyalty.imports import orders as order_import
from loyalty.imports.csvfile import ImportFileError, count_rows
from loyalty.imports.runner import ImportFile, ImportResult
from loyalty.imports.runner import Progress as OnProgress
from loyalty.runtime import tune_gc

imports_app = typer.Typer(
    help="Import members and order history from CSV files (resumable).", no_args_is_help=True
)

Importer = Callable[..., ImportResult]
FileArg = Annotated[Path, typer.Argument(help="CSV file (UTF-8 or GB18030, header row)")]
RestartOpt = Annotated[
    bool, typer.Option("--restart", help="Ignore FILE.csv.progress and start from the first row")
]


@imports_app.command("members")
def import_members_command(file: FileArg, restart: RestartOpt = False) -> None:
    """Members. Columns: member_ref, phone, name, birthday (YYYY-MM-DD), gender, card_no,
    wechat_openid, store_code, registered_at (ISO 8601). member_ref or phone is required."""
    run_import_command(
        "members", file, restart, member_import.REQUIRED, member_import.import_members
    )


@imports_app.command("orders")
def import_orders_command(
    file: FileArg,
    restart: RestartOpt = False,
    lanes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=16,
            help="Processes posting chunks side by side (default: one per core, at most 4, "
            "on PostgreSQL for files of 50,000 rows or more; else one)",
        ),
    ] = None,
) -> None:
    """Orders, earned like live ones. Columns: order_id, member_ref (or phone or card_no),
    store_code, occurred_at (ISO 8601), amount (yuan, e.g. 123.45), payment_method."""

    def orders(db: Database, *args: Any, **kw: Any) -> ImportResult:
        ways = lanes or order_import.default_lanes(db, count_rows(file))
        return order_import.import_orders(db, *args, lanes=ways, **kw)

    run_import_command("orders", file, restart, order_import.REQUIRED, orders)


def run_import_command(
    noun: str, file: Path, restart: bool, required: Sequence[Sequence[str]], importer: Importer
) -> None:
    """Check the file before touching the database, import with a progress bar, report.

    A file that cannot be read (from the start, or part-way: what came before stays imported
    and a re-run carries on) exits with 2.
    """
    try:
        ImportFile.open(file, required)
        db = open_db()
        tune_gc()
        started = time.perf_counter()
        result = _with_progress(noun, file, lambda tick: _call(importer, db, file, restart, tick))
    except ImportFileError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    report(noun, result, time.perf_counter() - started)


def _call(
    importer: Importer, db: Database, file: Path, restart: bool, tick: OnProgress
) -> ImportResult:
    now: datetime = utcnow()
    return importer(db, default_program_id(db), file, now, restart=restart, on_progress=tick)


def _with_progress(
    noun: str, file: Path, work: Callable[[OnProgress], ImportResult]
) -> ImportResult:
    with Progress(
        TextColumn(f"[bold]Importing {noun}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(noun, total=count_rows(file))
        return work(lambda n: bar.advance(task, n))


def report(noun: str, result: ImportResult, seconds: float) -> None:
    """Counts, speed, and where the rejected rows are."""
    if result.resumed_after:
        console.print(f"Resumed after row {result.resumed_after:,} (done in an earlier run).")
    speed = f" ({result.imported / seconds:,.0f} {noun}/s)" if result.imported else ""
    console.print(
        f"[bold]{noun.capitalize()}:[/bold] {result.imported:,} imported, "
        f"{result.skipped:,} skipped (already imported), {result.rejected:,} rejected "
        f"in {seconds:.1f} s{speed}."
    )
    if result.rejected_path is not None:
        console.print(f"Rejected rows, each with its reason: {result.rejected_path}")
