"""Scheduled jobs by name, runnable from ``loyalty jobs run`` and ``loyalty worker``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from loyalty.db.engine import Database
from loyalty.ledger.jobs import JobResult, expire_lots, release_holds, vest_lots
from loyalty.tiers.jobs import evaluate_tiers

Progress = Callable[[JobResult], None] | None
Job = Callable[[Database, datetime, datetime, Progress], JobResult]


def _expire(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    return expire_lots(db.transaction, as_of, now, progress)


def _vest(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    return vest_lots(db.transaction, as_of, now, progress)


def _release(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    return release_holds(db.transaction, as_of, now, progress)


def _tiers(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    return evaluate_tiers(db.transaction, as_of, now, progress)


JOBS: dict[str, tuple[Job, str]] = {
    "vest": (_vest, "make pending points whose return window closed available"),
    "expire": (_expire, "expire what remains of due lots"),
    "release-holds": (_release, "void holds past their time-out"),
    "tiers": (_tiers, "re-evaluate every member's tier (upgrades and downgrades)"),
}
