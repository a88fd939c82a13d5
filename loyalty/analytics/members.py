"""Members on the dashboard: new, active (a distinct count over any days) and per tier."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, union
from sqlalchemy.orm import Session

from loyalty.analytics import days
from loyalty.analytics.models import NO_STORE, MemberActivity, MembersDaily
from loyalty.analytics.period import Period, Stores, store_filter
from loyalty.ledger.models import Entry
from loyalty.members.models import Member
from loyalty.programs.models import Program
from loyalty.tiers.models import Tier


@dataclass(frozen=True)
class TierShare:
    code: str | None
    name: str | None
    name_en: str | None
    members: int


def new_members(
    session: Session, program: Program, period: Period, stores: Stores, after: int
) -> int:
    rolled = session.scalar(
        select(func.coalesce(func.sum(MembersDaily.registered), 0)).where(
            MembersDaily.program_id == program.id,
            MembersDaily.day.between(period.first, period.last),
            store_filter(MembersDaily.store_id, stores),
        )
    )
    start, end = period.bounds(program.timezone)
    recent = session.scalar(
        select(func.count()).where(
            Member.program_id == program.id,
            Member.id > after,
            Member.registered_at >= start,
            Member.registered_at < end,
            store_filter(func.coalesce(Member.store_id, NO_STORE), stores),
        )
    )
    return int(rolled or 0) + int(recent or 0)


def _active_rows(program: Program, period: Period, stores: Stores, *columns: Any) -> Any:
    """Rollup rows of members with an order in the period (``columns`` of them)."""
    months, masks = _month_masks(period)
    return select(*columns).where(
        MemberActivity.program_id == program.id,
        MemberActivity.month.between(months[0], months[-1]),
        or_(*masks),
        store_filter(MemberActivity.store_id, stores),
    )


def _recent_rows(
    program: Program, period: Period, stores: Stores, after: int, *columns: Any
) -> Any:
    """Orders beyond the watermark in the period, as (``columns``)."""
    start, end = period.bounds(program.timezone)
    return select(*columns).where(
        Entry.program_id == program.id,
        Entry.id > after,
        Entry.kind == "earn",
        Entry.source_type == "order",
        Entry.occurred_at >= start,
        Entry.occurred_at < end,
        store_filter(func.coalesce(Entry.store_id, NO_STORE), stores),
    )


def _month_masks(period: Period) -> tuple[list[date], list[ColumnElement[bool]]]:
    """The months the period touches, and per month: its rows active on one of its days."""
    months, conditions, whole = [], [], []
    month = period.first.replace(day=1)
    while month <= period.last:
        months.append(month)
        length = calendar.monthrange(month.year, month.month)[1]
        first = period.first.day if month == months[0] else 1
        last = period.last.day if month == period.last.replace(day=1) else length
        if first == 1 and last == length:
            whole.append(month)
        else:
            mask = days.days_mask(first, last)
            conditions.append(
                and_(MemberActivity.month == month, MemberActivity.days.op("&")(mask) != 0)
            )
        month = (month + timedelta(days=32)).replace(day=1)
    if whole:
        conditions.append(MemberActivity.month.in_(whole))
    return months, conditions


def active_total(
    session: Session, program: Program, period: Period, stores: Stores, after: int | None
) -> int:
    """Members with an order in the period, each counted once. ``after``: the watermark, or
    ``None`` when nothing lies beyond it."""
    rows = _active_rows(program, period, stores, MemberActivity.member_id)
    if after is None:
        members = rows.group_by(MemberActivity.member_id).subquery()
    else:
        recent = _recent_rows(program, period, stores, after, Entry.member_id)
        members = union(rows, recent).subquery()
    return int(session.scalar(select(func.count()).select_from(members)) or 0)


def active_by_store(
    session: Session, program: Program, period: Period, stores: Stores, after: int
) -> dict[int, int]:
    """Members with an order in the period at each store (one member may count at two)."""
    store = MemberActivity.store_id
    rows = _active_rows(program, period, stores, store, MemberActivity.member_id)
    tail_store = func.coalesce(Entry.store_id, NO_STORE)
    recent = _recent_rows(program, period, stores, after, tail_store, Entry.member_id)
    pairs = union(rows, recent).subquery()
    counted = session.execute(
        select(pairs.c.store_id, func.count()).group_by(pairs.c.store_id)
    ).all()
    return {int(s): int(n) for s, n in counted}


def tier_shares(session: Session, program_id: int, stores: Stores) -> list[TierShare]:
    """Members (not merged away) per tier, lowest tier first; by home store for a scope."""
    counts = dict(
        session.execute(
            select(Member.tier_code, func.count())
            .where(
                Member.program_id == program_id,
                Member.status != "merged",
                store_filter(func.coalesce(Member.store_id, NO_STORE), stores),
            )
            .group_by(Member.tier_code)
        ).all()
    )
    tiers = session.scalars(
        select(Tier).where(Tier.program_id == program_id).order_by(Tier.rank)
    ).all()
    shares = [TierShare(t.code, t.name, t.name_en, int(counts.pop(t.code, 0))) for t in tiers]
    shares += [TierShare(code, None, None, int(n)) for code, n in counts.items() if n]
    return [s for s in shares if s.members] if not tiers else shares
