"""The ``rollups`` job: fold new ledger entries and new members into the daily rollups.

For each program and each source table (``points_entries``, ``members``), the job takes the
rows after the watermark in ``rollup_state``, in chunks of ids, and adds them to the rollup
tables with one ``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE`` per table; the
watermark moves in the same transaction. Journal rows are never updated, so a row once folded
in never needs folding again, and an entry written for a past day (an expiry as of a lot's
due date, an imported order) simply lands on that day.

Safe to run twice or concurrently: each chunk locks its program's state row (PostgreSQL
``FOR UPDATE``; SQLite writers are serialised), so two runs never fold the same ids.

Ids are drawn before their transaction commits, so on PostgreSQL a committed entry 101 may
sit next to an entry 100 that commits a moment later. The job therefore stops at the largest
id it saw only once every transaction that was open when it looked has ended (see
``settled_horizon``); anything newer stays beyond the watermark, where readers add it
themselves (``loyalty.analytics.queries``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from loyalty.analytics import days
from loyalty.analytics.models import (
    NO_STORE,
    MemberActivity,
    MembersDaily,
    PointsDaily,
    RollupState,
)
from loyalty.db.engine import Database
from loyalty.ledger.jobs import JobResult
from loyalty.ledger.models import Entry, Lot
from loyalty.members.models import Member
from loyalty.programs.models import Program

CHUNK_IDS = 50_000
SETTLE_SECONDS = 10.0
ANALYZE_AFTER = 100_000
ENTRIES = "entries"
MEMBERS = "members"

Progress = Callable[[JobResult], None] | None


@dataclass(frozen=True)
class Horizon:
    """The largest entry and member ids below which every transaction has ended."""

    entries: int
    members: int


def run_rollups(db: Database, now: datetime, progress: Progress = None) -> JobResult:
    """Fold everything settled into the rollups of every program."""
    horizon = settled_horizon(db)
    total = JobResult()
    if horizon is None:
        return total
    with db.reader() as session:
        programs = list(session.execute(select(Program.id, Program.timezone)).all())
    for program_id, zone in programs:
        total.add(_catch_up(db, (program_id, zone), ENTRIES, horizon.entries, now, progress))
        total.add(_catch_up(db, (program_id, zone), MEMBERS, horizon.members, now, progress))
    if total.rows + total.members >= ANALYZE_AFTER:
        _analyze(db)
    return total


def _analyze(db: Database) -> None:
    """Fresh planner statistics after a big catch-up, so the first dashboards plan well."""
    with db.transaction() as session:
        for model in (PointsDaily, MembersDaily, MemberActivity):
            session.execute(text(f"ANALYZE {model.__tablename__}"))


# --- where to stop -----------------------------------------------------------------------------


def settled_horizon(db: Database, wait: float = SETTLE_SECONDS) -> Horizon | None:
    """The current largest ids, once no transaction that might still add smaller ones is open.

    SQLite has one writer at a time, so what is committed is final. PostgreSQL: note the
    transactions open in this database, then wait (at most ``wait`` seconds; ``None`` after
    that, and the run folds nothing) until each of them has ended.
    """
    with db.reader() as session:
        top = Horizon(
            session.scalar(select(func.max(Entry.id))) or 0,
            session.scalar(select(func.max(Member.id))) or 0,
        )
        if db.dialect != "postgresql":
            return top
        open_before = _open_transactions(session)
    deadline = time.monotonic() + wait
    while open_before:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
        with db.reader() as session:
            open_before &= _open_transactions(session)
    return top


def _open_transactions(session: Session) -> set[tuple[int, str]]:
    """Other sessions' open transactions in this database, as (backend pid, start or xid)."""
    session.execute(text("SELECT pg_stat_clear_snapshot()"))
    rows = session.execute(
        text(
            "SELECT pid, COALESCE(CAST(xact_start AS text), CAST(backend_xid AS text)) "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() "
            "AND (xact_start IS NOT NULL OR backend_xid IS NOT NULL)"
        )
    )
    return {(int(pid), str(key)) for pid, key in rows}


# --- one program, one source -------------------------------------------------------------------


def _catch_up(
    db: Database,
    program: tuple[int, str],
    name: str,
    top: int,
    now: datetime,
    progress: Progress,
) -> JobResult:
    """Fold ``name``'s rows up to id ``top`` into the rollups, one transaction per chunk."""
    total = JobResult()
    while True:
        with db.transaction() as session:
            state = lock_state(session, program[0], name, now)
            if state.last_id >= top:
                return total
            hi = min(state.last_id + CHUNK_IDS, top)
            fold = _fold_entries if name == ENTRIES else _fold_members
            done = fold(session, program, state.last_id, hi)
            state.last_id, state.updated_at = hi, now
            state.net_points += done.points
        total.add(done)
        if progress and (done.rows or done.members):
            progress(done)


def lock_state(session: Session, program_id: int, name: str, now: datetime) -> RollupState:
    """The program's watermark row for ``name``, created at 0 if new, locked for this chunk."""
    values = {"program_id": program_id, "name": name, "last_id": 0, "net_points": 0}
    new = _insert(session, RollupState).values(**values, updated_at=now)
    session.execute(new.on_conflict_do_nothing())
    stmt = (
        select(RollupState)
        .where(RollupState.program_id == program_id, RollupState.name == name)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one()


def _insert(session: Session, model: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


# --- ledger entries ----------------------------------------------------------------------------


def entry_facts(dialect: str, zone: str, *where: ColumnElement[bool]) -> Any:
    """Entries as the rollups see them: local day and store (an expiry counts for the store
    that issued the lot), with member, kind, source and points. A subquery."""
    lot, issued = aliased(Lot), aliased(Entry)
    expired_lot = and_(lot.id == Entry.lot_id, Entry.kind == "expire", Entry.store_id.is_(None))
    return (
        select(
            Entry.program_id,
            Entry.member_id,
            Entry.kind,
            Entry.source_type,
            Entry.points,
            days.local_day(dialect, Entry.occurred_at, zone).label("day"),
            func.coalesce(Entry.store_id, issued.store_id, NO_STORE).label("store_id"),
        )
        .select_from(Entry)
        .outerjoin(lot, expired_lot)
        .outerjoin(issued, issued.id == lot.entry_id)
        .where(*where)
        .subquery("facts")
    )


def ordered(facts: Any) -> ColumnElement[bool]:
    """The facts that make a member active: points earned on an order."""
    return and_(facts.c.kind == "earn", facts.c.source_type == "order")


def _fold_entries(session: Session, program: tuple[int, str], lo: int, hi: int) -> JobResult:
    program_id, zone = program
    dialect = session.get_bind().dialect.name
    days.prepare(session, zone)
    in_chunk = (Entry.program_id == program_id, Entry.id > lo, Entry.id <= hi)
    rows, points = session.execute(
        select(func.count(), func.coalesce(func.sum(Entry.points), 0)).where(*in_chunk)
    ).one()
    if rows:
        facts = entry_facts(dialect, zone, *in_chunk)
        session.execute(_points_upsert(session, facts))
        session.execute(_activity_upsert(session, dialect, facts))
    return JobResult(rows=int(rows), points=int(points))


def _points_upsert(session: Session, facts: Any) -> Any:
    keys = (facts.c.program_id, facts.c.day, facts.c.store_id, facts.c.kind)
    rows = select(*keys, func.sum(facts.c.points), func.count()).group_by(*keys)
    columns = ["program_id", "day", "store_id", "kind", "points", "entries"]
    stmt = _insert(session, PointsDaily).from_select(columns, rows)
    return stmt.on_conflict_do_update(
        index_elements=columns[:4],
        set_={
            "points": PointsDaily.points + stmt.excluded.points,
            "entries": PointsDaily.entries + stmt.excluded.entries,
        },
    )


def _activity_upsert(session: Session, dialect: str, facts: Any) -> Any:
    marks = (
        select(
            facts.c.program_id,
            days.month_start(dialect, facts.c.day).label("month"),
            facts.c.store_id,
            facts.c.member_id,
            days.day_bit(dialect, facts.c.day).label("bit"),
        )
        .where(ordered(facts))
        .distinct()
        .subquery("marks")
    )
    keys = (marks.c.program_id, marks.c.month, marks.c.store_id, marks.c.member_id)
    # Distinct powers of two add up to their bitwise OR.
    rows: Select[Any] = select(*keys, func.sum(marks.c.bit)).group_by(*keys)
    columns = ["program_id", "month", "store_id", "member_id", "days"]
    stmt = _insert(session, MemberActivity).from_select(columns, rows)
    return stmt.on_conflict_do_update(
        index_elements=columns[:4],
        set_={"days": MemberActivity.days.op("|")(stmt.excluded.days)},
    )


# --- members -----------------------------------------------------------------------------------


def member_facts(dialect: str, zone: str, *where: ColumnElement[bool]) -> Any:
    """Members as the rollups see them: local day of registration and store. A subquery."""
    return (
        select(
            Member.program_id,
            days.local_day(dialect, Member.registered_at, zone).label("day"),
            func.coalesce(Member.store_id, NO_STORE).label("store_id"),
        )
        .where(*where)
        .subquery("joined")
    )


def _fold_members(session: Session, program: tuple[int, str], lo: int, hi: int) -> JobResult:
    program_id, zone = program
    days.prepare(session, zone)
    in_chunk = (Member.program_id == program_id, Member.id > lo, Member.id <= hi)
    count = session.scalar(select(func.count()).where(*in_chunk)) or 0
    if not count:
        return JobResult()
    facts = member_facts(session.get_bind().dialect.name, zone, *in_chunk)
    keys = (facts.c.program_id, facts.c.day, facts.c.store_id)
    rows = select(*keys, func.count()).group_by(*keys)
    columns = ["program_id", "day", "store_id", "registered"]
    stmt = _insert(session, MembersDaily).from_select(columns, rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=columns[:3],
        set_={"registered": MembersDaily.registered + stmt.excluded.registered},
    )
    session.execute(stmt)
    return JobResult(members=int(count))
