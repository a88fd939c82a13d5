"""The loop every import shares: chunks in, one transaction each, rejects out, checkpoint on.

A chunk's work commits before the checkpoint moves past it; a crash in between makes the next
run redo that chunk, which the importers make harmless (rows already in the database are
skipped), and the rejects file is cut back to where the checkpoint left it.

With ``Lanes``, chunks are worked side by side in processes of their own (each with its own
connection), a few read ahead; their outcomes are taken in file order, so the rejects file
and the checkpoint move exactly as with one lane.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.db.engine import Database
from loyalty.errors import LoyaltyError
from loyalty.imports.csvfile import (
    Checkpoint,
    RejectWriter,
    Row,
    chunks,
    describe,
    load_checkpoint,
    read_header,
    rejected_path,
    rows,
    save_checkpoint,
)
from loyalty.runtime import tune_gc

Progress = Callable[[int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class ImportFile:
    """A CSV file whose header has been checked."""

    path: Path
    encoding: str
    columns: list[str]

    @classmethod
    def open(cls, path: Path, required: Sequence[Sequence[str]]) -> ImportFile:
        encoding, columns = read_header(path, required)
        return cls(path, encoding, columns)


@dataclass
class ChunkOutcome:
    """What one chunk did: rows written, rows already there, rows refused (with a reason)."""

    imported: int = 0
    skipped: int = 0
    rejected: list[tuple[Row, str]] = field(default_factory=list)

    def reject(self, row: Row, reason: str) -> None:
        self.rejected.append((row, reason))


@dataclass
class ImportResult:
    """This run's counts. ``skipped`` includes the rows an earlier run finished
    (``resumed_after``) and rows found already imported."""

    imported: int = 0
    skipped: int = 0
    rejected: int = 0
    resumed_after: int = 0
    rejected_path: Path | None = None


ChunkWork = Callable[[list[Row]], ChunkOutcome]


@dataclass(frozen=True)
class Lanes:
    """Work chunks in ``count`` processes. ``build`` makes a process's ``ChunkWork`` from its
    own ``Database`` of ``database_url`` (a module-level function or a ``partial`` of one:
    it travels to the processes by pickle)."""

    database_url: str
    count: int
    build: Callable[[Database], ChunkWork]


def run_import(
    source: ImportFile,
    work: ChunkWork | Lanes,
    *,
    chunk_size: int,
    restart: bool = False,
    on_progress: Progress | None = None,
    on_chunk: Callable[[ChunkOutcome], None] | None = None,
) -> ImportResult:
    """Feed the file to ``work`` in chunks, after the rows the checkpoint says are done;
    ``on_chunk`` sees each chunk's outcome, in file order."""
    checkpoint = Checkpoint() if restart else load_checkpoint(source.path)
    if checkpoint.rejected_bytes == 0:
        rejected_path(source.path).unlink(missing_ok=True)
    result = ImportResult(skipped=checkpoint.rows, resumed_after=checkpoint.rows)
    if on_progress and checkpoint.rows:
        on_progress(checkpoint.rows)
    writer = RejectWriter(source.path, source.columns, checkpoint.rejected_bytes)
    try:
        todo = rows(source.path, source.encoding, source.columns, checkpoint.rows)
        for chunk, outcome in _outcomes(work, chunks(todo, chunk_size)):
            if on_chunk:
                on_chunk(outcome)
            for row, reason in sorted(outcome.rejected, key=lambda r: r[0].number):
                writer.write(row, reason)
            done_before = checkpoint.rows
            _advance(result, checkpoint, outcome, chunk[-1].number, writer.size())
            save_checkpoint(source.path, checkpoint)
            if on_progress:
                on_progress(checkpoint.rows - done_before)
    finally:
        writer.close()
    if result.rejected or checkpoint.rejected:
        result.rejected_path = writer.path
    return result


def _outcomes(
    work: ChunkWork | Lanes, source: Iterator[list[Row]]
) -> Iterator[tuple[list[Row], ChunkOutcome]]:
    if not isinstance(work, Lanes):
        for chunk in source:
            yield chunk, work(chunk)
        return
    spawn = multiprocessing.get_context("spawn")  # never a copy of this process's connections
    with ProcessPoolExecutor(
        work.count, spawn, initializer=_start_lane, initargs=(work.database_url, work.build)
    ) as pool:
        pending: deque[tuple[list[Row], Future[ChunkOutcome]]] = deque()
        for chunk in source:
            pending.append((chunk, pool.submit(_lane_chunk, chunk)))
            if len(pending) > 2 * work.count:  # a few chunks ahead, not the whole file
                first, outcome = pending.popleft()
                yield first, outcome.result()
        for chunk, outcome in pending:
            yield chunk, outcome.result()


_lane_work: ChunkWork | None = None  # in a lane process: its chunk work


def _start_lane(database_url: str, build: Callable[[Database], ChunkWork]) -> None:
    global _lane_work
    _lane_work = build(Database(database_url, pool_size=1))
    tune_gc()  # as the command itself: a lane is a fresh process


def _lane_chunk(chunk: list[Row]) -> ChunkOutcome:
    assert _lane_work is not None, "not a lane process"
    return _lane_work(chunk)


def _advance(
    result: ImportResult, checkpoint: Checkpoint, outcome: ChunkOutcome, last: int, size: int
) -> None:
    result.imported += outcome.imported
    result.skipped += outcome.skipped
    result.rejected += len(outcome.rejected)
    checkpoint.rows = last
    checkpoint.imported += outcome.imported
    checkpoint.skipped += outcome.skipped
    checkpoint.rejected += len(outcome.rejected)
    checkpoint.rejected_bytes = size


ATTEMPTS = 3


def write_chunk(
    db: Database,
    chunk: list[Row],
    parse: Callable[[Row], T],
    write: Callable[[Session, list[T], ChunkOutcome], ChunkOutcome],
) -> ChunkOutcome:
    """Parse every row (a bad one is refused with its reason), then write the good ones in one
    transaction; a unique key taken by a concurrent writer rolls the chunk back and retries."""
    parsed: list[T] = []
    refused: list[tuple[Row, str]] = []
    for row in chunk:
        try:
            parsed.append(parse(row))
        except LoyaltyError as exc:
            refused.append((row, describe(exc)))
    for attempt in range(ATTEMPTS):
        try:
            with db.transaction() as session:
                return write(session, parsed, ChunkOutcome(rejected=list(refused)))
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
