"""``loyalty jobs run tiers``: evaluate every member's tier, set-based, in chunks of ids.

SQL computes each member's qualifying metrics and the tier they qualify for, and returns only
the members whose tier may change; those are locked (as requests lock them) and changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from loyalty.db.bulk import bulk_insert
from loyalty.ledger.jobs import JobResult, Transaction, lock_members
from loyalty.members.models import Member
from loyalty.notifications.outbox import emit_many
from loyalty.orders.models import Order
from loyalty.programs.models import Program
from loyalty.tiers.models import TierChange
from loyalty.tiers.service import (
    BASE,
    TierSpec,
    _metric_columns,
    program_tiers,
    tier_of,
)

CHUNK = 50_000


def evaluate_tiers(
    transaction: Transaction,
    as_of: datetime,
    now: datetime,
    on_chunk: Callable[[JobResult], None] | None = None,
) -> JobResult:
    total = JobResult()
    with transaction() as session:
        programs = list(session.scalars(select(Program.id)))
        bounds = session.execute(select(func.min(Member.id), func.max(Member.id))).one()
    if bounds[0] is None:
        return total
    for program_id in programs:
        for lo in range(bounds[0], bounds[1] + 1, CHUNK):
            with transaction() as session:
                result = _chunk(session, program_id, lo, lo + CHUNK - 1, as_of)
            total.add(result)
            if on_chunk:
                on_chunk(result)
    return total


def _chunk(session: Session, program_id: int, lo: int, hi: int, as_of: datetime) -> JobResult:
    program = session.get(Program, program_id)
    assert program is not None
    ladder = program_tiers(session, program)
    if len(ladder) == 1 and program.tier_downgrade == "never":
        return JobResult()
    candidates = session.execute(_candidates(program, ladder, lo, hi, as_of)).all()
    locked = set(lock_members(session, [row[0] for row in candidates]))
    members = {
        row.id: row
        for row in session.execute(
            select(
                Member.id, Member.tier_code, Member.tier_protected_until, Member.last_order_at
            ).where(Member.id.in_(locked))
        )
    }
    changes = []
    for member_id, target_rank in ((r[0], int(r[1])) for r in candidates):
        member = members.get(member_id)
        decision = _decide(program, ladder, member, target_rank, as_of) if member else None
        if member and decision:
            changes.append((member_id, member.tier_code or BASE, *decision))
    _apply(session, program, changes, as_of)
    return JobResult(rows=len(changes), members=len(changes))


def _apply(
    session: Session,
    program: Program,
    changes: list[tuple[int, str, TierSpec, str]],
    as_of: datetime,
) -> None:
    """Write a chunk's tier changes in three statements: members, history, outbox."""
    if not changes:
        return
    table = cast(Table, Member.__table__)
    protect = as_of + timedelta(days=program.tier_protection_days)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("mid"))
        .values(
            tier_code=bindparam("code"),
            tier_since=bindparam("since"),
            tier_protected_until=bindparam("until"),
        ),
        [
            {
                "mid": mid,
                "code": None if to.code == BASE else to.code,
                "since": as_of,
                "until": protect if reason == "upgrade" and program.tier_protection_days else None,
            }
            for mid, _, to, reason in changes
        ],
    )
    bulk_insert(
        session,
        TierChange,
        [
            {
                "program_id": program.id,
                "member_id": mid,
                "from_code": old,
                "to_code": to.code,
                "reason": reason,
                "changed_at": as_of,
            }
            for mid, old, to, reason in changes
        ],
    )
    emit_many(
        session,
        [
            (
                program.id,
                "tier.changed",
                mid,
                {"member_id": mid, "from": old, "to": to.code, "reason": reason},
            )
            for mid, old, to, reason in changes
        ],
        as_of,
    )


def _candidates(program: Program, ladder: list[TierSpec], lo: int, hi: int, as_of: datetime) -> Any:
    """Members of the chunk whose qualifying tier differs from theirs, or who are inactive."""
    windows = {t.window_days for t in ladder[1:]} or {1}
    cols = []
    for days in sorted(windows):
        for name, col in _metric_columns(as_of - timedelta(days=days)).items():
            cols.append(col.label(f"{name}_{days}"))
    m = (
        select(Order.member_id, *cols)
        .where(
            Order.program_id == program.id,
            Order.member_id.between(lo, hi),
            Order.occurred_at <= as_of,
            Order.occurred_at > as_of - timedelta(days=max(windows)),
        )
        .group_by(Order.member_id)
        .subquery()
    )
    target = (
        case(
            *[
                (func.coalesce(m.c[f"{t.metric}_{t.window_days}"], 0) >= t.threshold, t.rank)
                for t in reversed(ladder[1:])
            ],
            else_=0,
        )
        if len(ladder) > 1
        else literal(0)
    )
    current = (
        case(*[(Member.tier_code == t.code, t.rank) for t in ladder[1:]], else_=0)
        if len(ladder) > 1
        else literal(0)
    )
    inactive = and_(
        current > 0,
        or_(
            Member.last_order_at.is_(None),
            Member.last_order_at <= as_of - timedelta(days=program.tier_inactive_days),
        ),
    )
    return (
        select(Member.id, target)
        .outerjoin(m, m.c.member_id == Member.id)
        .where(
            Member.program_id == program.id,
            Member.id.between(lo, hi),
            Member.status != "merged",
            or_(target != current, inactive),
        )
        .order_by(Member.id)
    )


def _decide(
    program: Program, ladder: list[TierSpec], member: Any, target_rank: int, as_of: datetime
) -> tuple[TierSpec, str] | None:
    current = tier_of(ladder, member.tier_code)
    target = next(t for t in ladder if t.rank == target_rank)
    if target.rank > current.rank:
        return target, "upgrade"
    protected = member.tier_protected_until is not None and member.tier_protected_until > as_of
    if protected or program.tier_downgrade == "never":
        return None
    if program.tier_downgrade == "requalify" and target.rank < current.rank:
        return target, "requalify"
    last = member.last_order_at
    inactive_since = as_of - timedelta(days=program.tier_inactive_days)
    if (
        program.tier_downgrade == "inactive"
        and current.code != BASE
        and (last is None or last <= inactive_since)
    ):
        return ladder[0], "inactive"
    return None
