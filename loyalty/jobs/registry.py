"""Scheduled jobs by name, runnable from ``loyalty jobs run`` and ``loyalty worker``."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from loyalty.analytics.rollups import run_rollups
from loyalty.coupons.jobs import expire_coupons
from loyalty.db.engine import Database
from loyalty.ledger.jobs import JobResult, expire_lots, release_holds, vest_lots
from loyalty.members.login import prune_sign_ins
from loyalty.programs.models import Program
from loyalty.rewards.service import expire_pickups
from loyalty.tiers.jobs import evaluate_tiers
from loyalty.users.service import prune_sessions

Progress = Callable[[JobResult], None] | None
Job = Callable[[Database, datetime, datetime, Progress], JobResult]


def lanes(db: Database) -> int:
    """Chunks worked side by side: one per core on PostgreSQL (the database does most of the
    work); one on SQLite, whose writers take turns anyway."""
    return 1 if db.dialect == "sqlite" else max(1, min(4, os.cpu_count() or 1))


def _expire(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    return expire_lots(db.transaction, as_of, now, progress, lanes(db))


def _vest(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    return vest_lots(db.transaction, as_of, now, progress, lanes(db))


def _release(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    return release_holds(db.transaction, as_of, now, progress, lanes(db))


def _tiers(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    return evaluate_tiers(db.transaction, as_of, now, progress)


def _expire_coupons(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    return expire_coupons(db.transaction, as_of, now, progress)


def _expire_pickups(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    """Pickups not collected in time: expired, points and stock given back."""
    total = JobResult()
    with db.transaction() as session:
        programs = list(session.scalars(select(Program)))
    for program in programs:
        while True:
            with db.transaction() as session:
                done = expire_pickups(session, session.merge(program), as_of, now)
            total.rows += done
            if progress and done:
                progress(JobResult(rows=done))
            if done == 0:
                break
    return total


def _prune_sign_ins(db: Database, as_of: datetime, now: datetime, progress: Progress) -> JobResult:
    """Sessions and sign-in codes that can no longer be used, console's and members'."""
    with db.transaction() as session:
        rows = prune_sessions(session, as_of) + prune_sign_ins(session, as_of)
    if progress and rows:
        progress(JobResult(rows=rows))
    return JobResult(rows=rows)


def _rollups(
    db: Database, as_of: datetime, now: datetime | None = None, progress: Progress = None
) -> JobResult:
    """Everything written so far (``as_of`` does not apply: the journal is folded in order)."""
    return run_rollups(db, now or as_of, progress)


JOBS: dict[str, tuple[Job, str]] = {
    "vest": (_vest, "make pending points whose return window closed available"),
    "expire": (_expire, "expire what remains of due lots"),
    "release-holds": (_release, "void holds past their time-out"),
    "tiers": (_tiers, "re-evaluate every member's tier (upgrades and downgrades)"),
    "expire-coupons": (_expire_coupons, "expire issued coupons past their validity"),
    "expire-pickups": (_expire_pickups, "expire pickups not collected in time, giving points back"),
    "prune-sign-ins": (_prune_sign_ins, "delete expired sessions and spent sign-in codes"),
    "rollups": (_rollups, "fold new entries and members into the dashboard's daily rollups"),
}
