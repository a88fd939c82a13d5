"""The dashboard's figures, read from the daily rollups plus the journal's newest rows.

Everything before a program's watermark comes from the rollup tables (a few hundred rows for
a month); entries and members after it, not yet folded in, are read from their tables and
added here, so the figures are exact whether or not the ``rollups`` job has run. The
chain-wide figures agree with ``loyalty.ledger.queries.points_summary`` for the same period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.analytics import days
from loyalty.analytics.members import (
    TierShare,
    active_by_store,
    active_total,
    new_members,
    tier_shares,
)
from loyalty.analytics.models import PointsDaily, RollupState
from loyalty.analytics.period import MAX_DAYS, Period, Stores, in_scope, store_filter
from loyalty.analytics.rollups import ENTRIES, MEMBERS, entry_facts
from loyalty.ledger.models import Entry
from loyalty.ledger.queries import money
from loyalty.members.models import Member
from loyalty.programs.models import Program
from loyalty.stores.models import Store

__all__ = [
    "MAX_DAYS",
    "Dashboard",
    "Period",
    "Stores",
    "dashboard",
    "read_marks",
    "store_activity",
]

TOP_STORES = 10
# kind -> (figure, sign): the figures ``points_summary`` reports, positive.
FIGURES = {
    "earn": ("issued", 1),
    "redeem": ("redeemed", -1),
    "expire": ("expired", -1),
    "adjust": ("adjusted", 1),
    "reverse": ("reversed", -1),
}


@dataclass(frozen=True)
class DayPoints:
    day: date
    issued: int
    redeemed: int
    expired: int


@dataclass(frozen=True)
class StoreFigures:
    store_id: int
    code: str
    name: str
    issued: int
    redeemed: int
    expired: int
    earn_entries: int


@dataclass
class Dashboard:
    """What the console's home page shows for one period and scope of stores.

    ``summary`` has the keys of ``points_summary``; ``outstanding`` and ``liability_amount``
    are ``None`` for a scope of stores (points belong to members, not to stores).
    """

    period: Period
    stores: Stores
    summary: dict[str, Any]
    days: list[DayPoints]
    new_members: int
    active_members: int
    tiers: list[TierShare]
    store_figures: list[StoreFigures]
    unrolled_entries: int
    rolled_up_at: datetime | None
    empty: bool = False
    top: list[StoreFigures] = field(default_factory=list)


@dataclass(frozen=True)
class Marks:
    """The watermarks read at the start: (last entry id, its net points, last member id)."""

    entries: int
    net_points: int
    members: int
    at: datetime | None


def dashboard(session: Session, program: Program, period: Period, stores: Stores) -> Dashboard:
    """The dashboard of ``program`` for ``period``, all stores or only ``stores``.

    A rollups run committing while this reads would move the watermark under it; the figures
    are read again then, so they always match one watermark.
    """
    for _ in range(3):
        marks = read_marks(session, program.id)
        board = _read(session, program, period, stores, marks)
        if read_marks(session, program.id) == marks:
            break
    return board


def read_marks(session: Session, program_id: int) -> Marks:
    rows = {
        s.name: s
        for s in session.scalars(
            select(RollupState)
            .where(RollupState.program_id == program_id)
            .execution_options(populate_existing=True)
        )
    }
    entries, members = rows.get(ENTRIES), rows.get(MEMBERS)
    return Marks(
        entries.last_id if entries else 0,
        entries.net_points if entries else 0,
        members.last_id if members else 0,
        entries.updated_at if entries else None,
    )


def _read(
    session: Session, program: Program, period: Period, stores: Stores, marks: Marks
) -> Dashboard:
    tail = _tail(session, program, marks.entries)
    by_day = _points_by_day(session, program.id, period, stores, tail)
    outstanding = _outstanding(session, program, period, stores, marks, tail)
    board = Dashboard(
        period=period,
        stores=stores,
        summary=_summary(program, by_day, outstanding),
        days=_series(period, by_day),
        new_members=new_members(session, program, period, stores, marks.members),
        active_members=active_total(
            session, program, period, stores, marks.entries if tail else None
        ),
        tiers=tier_shares(session, program.id, stores),
        store_figures=[],
        unrolled_entries=sum(row[4] for row in tail),
        rolled_up_at=marks.at,
        empty=_never_used(session, program.id),
    )
    by_store = _points_by_store(session, program.id, period, stores, tail)
    board.store_figures = _store_figures(session, program.id, stores, by_store)
    board.top = board.store_figures[:TOP_STORES]
    return board


# --- points ------------------------------------------------------------------------------------

TailRow = tuple[date, int, str, int, int]  # day, store, kind, points, entries
Sums = dict[Any, dict[str, list[int]]]  # key -> kind -> [points, entries]


def _tail(session: Session, program: Program, after: int) -> list[TailRow]:
    """Entries beyond the watermark, grouped as the rollup would (usually a handful)."""
    days.prepare(session, program.timezone)
    facts = entry_facts(
        session.get_bind().dialect.name,
        program.timezone,
        Entry.program_id == program.id,
        Entry.id > after,
    )
    keys = (facts.c.day, facts.c.store_id, facts.c.kind)
    rows = session.execute(
        select(*keys, func.sum(facts.c.points), func.count()).group_by(*keys)
    ).all()
    return [(d, int(s), k, int(p), int(n)) for d, s, k, p, n in rows]


def _points_by_day(
    session: Session, program_id: int, period: Period, stores: Stores, tail: list[TailRow]
) -> Sums:
    return _points_by(session, program_id, period, stores, tail, by_store=False)


def _points_by_store(
    session: Session, program_id: int, period: Period, stores: Stores, tail: list[TailRow]
) -> Sums:
    return _points_by(session, program_id, period, stores, tail, by_store=True)


def _points_by(
    session: Session,
    program_id: int,
    period: Period,
    stores: Stores,
    tail: list[TailRow],
    by_store: bool,
) -> Sums:
    """Points and entries per kind, keyed by local day or by store: rollups plus the tail."""
    key: Any = PointsDaily.store_id if by_store else PointsDaily.day
    rows = session.execute(
        select(key, PointsDaily.kind, func.sum(PointsDaily.points), func.sum(PointsDaily.entries))
        .where(
            PointsDaily.program_id == program_id,
            PointsDaily.day.between(period.first, period.last),
            store_filter(PointsDaily.store_id, stores),
        )
        .group_by(key, PointsDaily.kind)
    ).all()
    sums: Sums = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for group, kind, points, n in rows:
        _add(sums[group][kind], points, n)
    for day, store_id, kind, points, n in tail:
        if period.first <= day <= period.last and in_scope(store_id, stores):
            _add(sums[store_id if by_store else day][kind], points, n)
    return sums


def _add(cell: list[int], points: Any, entries: Any) -> None:
    cell[0] += int(points or 0)
    cell[1] += int(entries or 0)


def _figures(by_kind: dict[str, list[int]]) -> dict[str, int]:
    """Signed journal sums per kind as the positive figures of ``FIGURES``."""
    out = {figure: 0 for figure, _ in FIGURES.values()}
    for kind, (points, _) in by_kind.items():
        if kind in FIGURES:
            figure, sign = FIGURES[kind]
            out[figure] += points * sign
    return out


def _series(period: Period, by_day: Sums) -> list[DayPoints]:
    series = []
    for day in period.days():
        f = _figures(by_day.get(day, {}))
        series.append(DayPoints(day, f["issued"], f["redeemed"], f["expired"]))
    return series


def _summary(program: Program, by_day: Sums, outstanding: int | None) -> dict[str, Any]:
    """The figures of ``points_summary`` (same keys, same rounding)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for by_kind in by_day.values():
        for kind, (points, n) in by_kind.items():
            _add(totals[kind], points, n)
    f = _figures(totals)
    return {
        **f,
        "outstanding": outstanding,
        "liability_amount": None
        if outstanding is None
        else money(outstanding, program.point_value),
        "currency": program.currency,
        "point_value": str(program.point_value),
        "redemption_rate": rate(f["redeemed"], f["issued"]),
        "breakage_rate": rate(f["expired"], f["issued"]),
    }


def rate(part: int, whole: int) -> float:
    """A share rounded to four places, 0 when there is no whole (as ``points_summary``)."""
    return round(part / whole, 4) if whole else 0.0


def _outstanding(
    session: Session,
    program: Program,
    period: Period,
    stores: Stores,
    marks: Marks,
    tail: list[TailRow],
) -> int | None:
    """Points held by members at the end of the period: everything ever journaled, less what
    happened after ``period.last``. Only for the whole chain."""
    if stores is not None:
        return None
    later = session.scalar(
        select(func.coalesce(func.sum(PointsDaily.points), 0)).where(
            PointsDaily.program_id == program.id, PointsDaily.day > period.last
        )
    )
    tail_total = sum(points for _, _, _, points, _ in tail)
    tail_later = sum(points for day, _, _, points, _ in tail if day > period.last)
    return marks.net_points + tail_total - int(later or 0) - tail_later


# --- stores ------------------------------------------------------------------------------------


def _store_figures(
    session: Session, program_id: int, stores: Stores, by_store: Sums
) -> list[StoreFigures]:
    """Every store in scope with its figures, most points issued first."""
    rows = []
    for store in _stores(session, program_id, stores):
        by_kind = by_store.get(store.id, {})
        f = _figures(by_kind)
        earned = by_kind.get("earn", [0, 0])[1]
        rows.append(
            StoreFigures(
                store.id,
                store.code,
                store.name,
                f["issued"],
                f["redeemed"],
                f["expired"],
                earned,
            )
        )
    return sorted(rows, key=lambda r: (-r.issued, -r.redeemed, r.code))


def store_activity(
    session: Session, program: Program, period: Period, stores: Stores
) -> dict[int, int]:
    """Members with an order in the period, per store (a second scan: for the export)."""
    return active_by_store(
        session, program, period, stores, read_marks(session, program.id).entries
    )


def _stores(session: Session, program_id: int, stores: Stores) -> Iterable[Store]:
    return session.scalars(
        select(Store)
        .where(Store.program_id == program_id, store_filter(Store.id, stores))
        .order_by(Store.code)
    ).all()


def _never_used(session: Session, program_id: int) -> bool:
    """A new program: no member and no points yet."""
    member = session.scalar(select(Member.id).where(Member.program_id == program_id).limit(1))
    entry = session.scalar(select(Entry.id).where(Entry.program_id == program_id).limit(1))
    return member is None and entry is None
