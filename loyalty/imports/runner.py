"""The loop every import shares: chunks in, one transaction each, rejects out, checkpoint on.

A chunk's work commits before the checkpoint moves past it; a crash in between makes the next
run redo that chunk, which the importers make harmless (rows already in the database are
skipped), and the rejects file is cut back to where the checkpoint left it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def run_import(
    source: ImportFile,
    work: ChunkWork,
    *,
    chunk_size: int,
    restart: bool = False,
    on_progress: Progress | None = None,
) -> ImportResult:
    """Feed the file to ``work`` in chunks, after the rows the checkpoint says are done."""
    checkpoint = Checkpoint() if restart else load_checkpoint(source.path)
    if checkpoint.rejected_bytes == 0:
        rejected_path(source.path).unlink(missing_ok=True)
    result = ImportResult(skipped=checkpoint.rows, resumed_after=checkpoint.rows)
    if on_progress and checkpoint.rows:
        on_progress(checkpoint.rows)
    writer = RejectWriter(source.path, source.columns, checkpoint.rejected_bytes)
    try:
        todo = rows(source.path, source.encoding, source.columns, checkpoint.rows)
        for chunk in chunks(todo, chunk_size):
            outcome = work(chunk)
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
