"""The files of an import: the CSV itself, its rejected rows and its checkpoint.

``orders.csv`` is read as UTF-8 (with or without BOM) or, failing that, GB18030, the two
encodings Chinese back-office systems export. Bad rows go to ``orders.rejected.csv`` with their
original columns and a ``reason``, so the file can be fixed and imported again as it is. The
checkpoint ``orders.csv.progress`` records how many rows are done, so a re-run carries on after
them.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from loyalty.errors import LoyaltyError

REASON = "reason"
SNIFF_BYTES = 1 << 16


class ImportFileError(LoyaltyError):
    """The file cannot be imported at all: missing, unreadable or without required columns."""

    code = "import_file_invalid"
    title = "Import file cannot be read"


@dataclass(frozen=True)
class Row:
    """One data row: its 1-based number in the file (the header is row 0) and its cells."""

    number: int
    cells: dict[str, str]

    def get(self, column: str) -> str | None:
        """The stripped cell, or ``None`` when the column is absent or the cell blank."""
        value = (self.cells.get(column) or "").strip()
        return value or None


@dataclass
class Checkpoint:
    """How far an import got; written after every committed chunk."""

    rows: int = 0
    imported: int = 0
    skipped: int = 0
    rejected: int = 0
    rejected_bytes: int = 0


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the start of the file decodes as UTF-8, else ``gb18030``."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end of the sample
            return "gb18030"
    return "utf-8-sig"


def read_header(path: Path, required: Sequence[Sequence[str]]) -> tuple[str, list[str]]:
    """The file's encoding and its column names; each group in ``required`` needs one column.

    Raises ``ImportFileError`` for a missing or unreadable file or a missing column, before
    anything is written.
    """
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    try:
        encoding = detect_encoding(path)
        with path.open(encoding=encoding, newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc})") from exc
    columns = [normalise_column(c) for c in header]
    missing = [" or ".join(group) for group in required if not set(group) & set(columns)]
    if missing:
        raise ImportFileError(
            f"{path}: missing column {', '.join(missing)} (the header has {', '.join(columns)})"
        )
    return encoding, columns


def normalise_column(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower()


def count_rows(path: Path) -> int:
    """Data rows, counted as lines (an estimate when cells hold line breaks): for progress."""
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(lines + (last != b"\n") - 1, 0)


def rows(path: Path, encoding: str, columns: list[str], skip: int) -> Iterator[Row]:
    """The data rows after the first ``skip``, each with its number.

    A file that stops being readable part-way (a broken character, a runaway quote) raises
    ``ImportFileError``; the checkpoint keeps what was imported before it.
    """
    number = 0
    try:
        with path.open(encoding=encoding, newline="") as f:
            reader = csv.reader(f)
            next(reader, None)
            for number, cells in enumerate(reader, start=1):
                if number > skip and any(c.strip() for c in cells):
                    yield Row(number, dict(zip(columns, cells, strict=False)))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{path}: cannot be read after row {number} ({exc})") from exc


def chunks(source: Iterator[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in source:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def progress_path(path: Path) -> Path:
    return path.with_name(path.name + ".progress")


def rejected_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejected{path.suffix or '.csv'}")


def load_checkpoint(path: Path) -> Checkpoint:
    """The saved checkpoint, or a fresh one when there is none (or it is unreadable)."""
    try:
        return Checkpoint(**json.loads(progress_path(path).read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return Checkpoint()


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write atomically (temp file, then rename), so a crash never leaves half a checkpoint."""
    target = progress_path(path)
    temp = target.with_name(target.name + ".tmp")
    temp.write_text(json.dumps(asdict(checkpoint)), "utf-8")
    os.replace(temp, target)


class RejectWriter:
    """Appends rejected rows, with the original columns and a ``reason``, to the rejects file."""

    def __init__(self, path: Path, columns: list[str], keep_bytes: int) -> None:
        self.path = rejected_path(path)
        self.columns = [c for c in columns if c != REASON]
        self._file: TextIO | None = None
        self._keep = keep_bytes

    def write(self, row: Row, reason: str) -> None:
        writer = csv.writer(self._open())
        writer.writerow([row.cells.get(c, "") for c in self.columns] + [reason])

    def size(self) -> int:
        if self._file is None:
            return self._keep
        self._file.flush()
        return self._file.tell()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def _open(self) -> TextIO:
        """Open on first use: keep what earlier runs wrote up to the checkpoint, drop the rest."""
        if self._file is None:
            fresh = self._keep == 0 or not self.path.exists()
            f = self.path.open("w" if fresh else "r+", encoding="utf-8", newline="")
            if fresh:
                csv.writer(f).writerow([*self.columns, REASON])
            else:
                f.truncate(self._keep)
                f.seek(self._keep)
            self._file = f
        return self._file


def describe(exc: Exception) -> str:
    """A one-line reason for the rejects file."""
    if isinstance(exc, LoyaltyError):
        return f"{exc.code}: {exc.detail}"
    text = io.StringIO(str(exc)).readline().strip()
    return text or type(exc).__name__
