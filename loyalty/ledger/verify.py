"""Prove the ledger balances: for every member, cache = journal = lots (+ debt)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from loyalty.ledger.models import Entry, Hold, Lot
from loyalty.members.models import Member


@dataclass(frozen=True)
class Mismatch:
    member_id: int
    check: str
    cached: int
    actual: int


def verify(session: Session, program_id: int | None = None) -> list[Mismatch]:
    """Every member whose cached balance disagrees with the entries, the lots or the holds.

    Set-based: four aggregate queries joined in one pass over the members. Also every member
    with points in lots that expire before ``lots_expire_from`` says (``expiry_bound``: the
    points the expiry job would never see, as ``actual``).
    """
    entries = _sum_by_member(Entry.member_id, Entry.points, None)
    lots_available = _sum_by_member(Lot.member_id, Lot.remaining, Lot.state == "available")
    lots_pending = _sum_by_member(Lot.member_id, Lot.remaining, Lot.state == "pending")
    holds = _sum_by_member(Hold.member_id, Hold.points, Hold.status == "held")
    negative_lots = session.execute(
        select(Lot.member_id, Lot.remaining).where(Lot.remaining < 0)
    ).all()
    stmt = (
        select(
            Member,
            func.coalesce(entries.c.total, 0),
            func.coalesce(lots_available.c.total, 0),
            func.coalesce(lots_pending.c.total, 0),
            func.coalesce(holds.c.total, 0),
        )
        .outerjoin(entries, entries.c.member_id == Member.id)
        .outerjoin(lots_available, lots_available.c.member_id == Member.id)
        .outerjoin(lots_pending, lots_pending.c.member_id == Member.id)
        .outerjoin(holds, holds.c.member_id == Member.id)
    )
    if program_id is not None:
        stmt = stmt.where(Member.program_id == program_id)
    found = [Mismatch(m, "negative_lot", 0, int(r)) for m, r in negative_lots]
    found += [Mismatch(m, "expiry_bound", 0, int(r)) for m, r in _unseen(session, program_id)]
    for member, e, la, lp, h in session.execute(stmt):
        found.extend(_check(member, int(e), int(la), int(lp), int(h)))
    return found


def _unseen(session: Session, program_id: int | None) -> list[Any]:
    """Points per member in available lots that expire before the member's expiry bound
    (pending lots are not expired before they vest, and vesting resets the bound)."""
    stmt = (
        select(Lot.member_id, func.sum(Lot.remaining))
        .join(Member, Member.id == Lot.member_id)
        .where(
            Lot.state == "available",
            Lot.remaining > 0,
            Lot.expires_at.is_not(None),
            or_(Member.lots_expire_from.is_(None), Lot.expires_at < Member.lots_expire_from),
        )
        .group_by(Lot.member_id)
    )
    if program_id is not None:
        stmt = stmt.where(Member.program_id == program_id)
    return list(session.execute(stmt).all())


def _sum_by_member(member_col: Any, value_col: Any, where: Any) -> Any:
    value = value_col if where is None else case((where, value_col), else_=0)
    return (
        select(member_col.label("member_id"), func.sum(value).label("total"))
        .group_by(member_col)
        .subquery()
    )


def _check(
    m: Member, entries: int, lots_available: int, lots_pending: int, held: int
) -> list[Mismatch]:
    balance = m.points_available + m.points_pending + m.points_held
    checks = [
        ("entries", balance, entries),
        ("available_lots", m.points_available + m.points_debt, lots_available),
        ("pending_lots", m.points_pending, lots_pending),
        ("held", m.points_held, held),
        ("debt_not_negative", m.points_debt, max(m.points_debt, 0)),
    ]
    return [
        Mismatch(m.id, name, cached, actual) for name, cached, actual in checks if cached != actual
    ]
