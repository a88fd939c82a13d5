"""CPU time of processes, read from ``/proc`` (Linux), so a figure can say where the work went.

On a machine shared with other work, requests per second move with the neighbours' load, but
the CPU time each request costs the server and the database barely does.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

Snapshot = dict[int, float]
Probe = Callable[[], Snapshot]


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of one process, or ``None`` if it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name (state first), or ``None`` if it is gone."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()] if PROC.is_dir() else []


def tree(root: int) -> Snapshot:
    """CPU seconds of ``root`` and every process below it."""
    stats = {pid: s for pid in _pids() if (s := _stat(pid)) is not None}
    found, frontier = {root}, [root]
    while frontier:
        frontier = [pid for pid, (parent, _) in stats.items() if parent in frontier]
        found.update(frontier)
    return {pid: stats[pid][1] for pid in found if pid in stats}


def backends(database: str) -> Snapshot:
    """CPU seconds of the local PostgreSQL backends serving ``database`` (if any are visible),
    and of the backends that have ended since the server started (the connections of the
    import's lanes, closed with them), under a key of their own."""
    out: Snapshot = {}
    postmaster = None
    for pid in _pids():
        try:
            title = (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        stat = _stat(pid) if title.startswith("postgres:") else None
        if stat is None:
            continue
        postmaster = stat[0]  # every backend's and background worker's parent
        if f" {database} " in title:
            out[pid] = stat[1]
    ended = _ended_children(postmaster) if postmaster is not None else None
    if ended is not None:
        out[FINISHED] = ended
    return out


def _ended_children(pid: int) -> float | None:
    """CPU seconds of the finished children a process has waited for (the postmaster's
    ended backends: every database's, and autovacuum's)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[13]) + int(fields[14])) / TICKS


def used(before: Snapshot, after: Snapshot) -> float:
    """CPU seconds spent between two snapshots by the processes in ``after``."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def this_process() -> Snapshot:
    """This process, the processes below it, and those of them that have finished (the
    import's lanes, once their pool is shut down), under a key of their own."""
    return {**tree(os.getpid()), FINISHED: children()}


FINISHED = -1


class Meter:
    """CPU spent by each named process group from now until ``per_unit`` is asked."""

    def __init__(self, probes: dict[str, Probe]) -> None:
        self.probes = probes
        self.before = {name: probe() for name, probe in probes.items()}

    def per_unit(self, units: int) -> dict[str, float]:
        """Milliseconds of CPU per unit of work, per process group that did any."""
        spent = {name: used(self.before[name], probe()) for name, probe in self.probes.items()}
        return {name: 1000 * s / units for name, s in spent.items() if s and units}


def note(per_unit: dict[str, float], unit: str, scale: str = "ms") -> str:
    if not per_unit:
        return ""
    parts = ", ".join(f"{name} {v:.2f} {scale}" for name, v in per_unit.items())
    return f"; CPU per {unit}: {parts}"


def children() -> float:
    """CPU seconds of this process's finished children (the load generator, once it exits)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
