"""Read models of the ledger: a member's points, history and the program's summary."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Select,
    bindparam,
    case,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.orm import Session

from loyalty.db.engine import fetch_all
from loyalty.ledger.awards import expand
from loyalty.ledger.models import Entry, Lot
from loyalty.members.models import Member
from loyalty.members.service import MemberNotFoundError
from loyalty.programs.models import Program
from loyalty.stores.models import Store

BALANCE_FIELDS = (
    "available",
    "pending",
    "held",
    "debt",
    "lifetime_earned",
    "lifetime_redeemed",
    "lifetime_expired",
)
EXPIRY_ROWS = 12


def points_view(session: Session, member: Member, now: datetime) -> dict[str, Any]:
    """Balances, lifetime figures, and what expires when (soonest first)."""
    return points_of(session, member.program_id, member.id)


def points_of(db: Session | Connection, program_id: int, member_id: int) -> dict[str, Any]:
    """``points_view`` in one round trip, without loading the member: the hottest read.

    The member's figures come joined to their next expiry dates (a row per date, or one row
    with no date), so the database answers both at once.
    """
    conn = db.connection() if isinstance(db, Session) else db
    rows = fetch_all(conn, _POINTS, {"member_id": member_id, "program_id": program_id})
    if not rows:
        raise MemberNotFoundError(f"member {member_id} does not exist")
    first, at, points = rows[0], len(BALANCE_FIELDS), len(BALANCE_FIELDS) + 1
    return {
        "member_id": member_id,
        **{name: first[i] for i, name in enumerate(BALANCE_FIELDS)},
        "expiring": [
            {"points": r[points], "expires_at": r[at].astimezone(UTC).isoformat()}
            for r in rows
            if r[points]
        ],
    }


def _points_statement() -> Select[Any]:
    """Built once: building a statement costs more CPU than the database takes to answer it."""
    member_id = bindparam("member_id", type_=BigInteger)
    program_id = bindparam("program_id", type_=Integer)
    lots = (
        select(
            Lot.expires_at.label("at"), cast(func.sum(Lot.remaining), BigInteger).label("points")
        )
        .where(Lot.member_id == member_id, Lot.remaining > 0, Lot.expires_at.is_not(None))
        .group_by(Lot.expires_at)
        .order_by(Lot.expires_at)
        .limit(EXPIRY_ROWS)
        .subquery()
    )
    return (
        select(
            Member.points_available,
            Member.points_pending,
            Member.points_held,
            Member.points_debt,
            Member.lifetime_earned,
            Member.lifetime_redeemed,
            Member.lifetime_expired,
            lots.c.at,
            lots.c.points,
        )
        .outerjoin(lots, true())
        .where(Member.id == member_id, Member.program_id == program_id)
        .order_by(lots.c.at)
    )


_POINTS = _points_statement()


def merged_ids(session: Session, member_id: int) -> list[int]:
    """The member and every account merged into it (their history is the member's too)."""
    ids, frontier = [member_id], [member_id]
    while frontier:
        frontier = list(
            session.scalars(select(Member.id).where(Member.merged_into_id.in_(frontier)))
        )
        ids.extend(frontier)
    return ids


def ledger_page(
    session: Session, member_id: int, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first, keyed by entry id for cursor pagination."""
    stmt = (
        select(Entry, Store.code)
        .outerjoin(Store, Store.id == Entry.store_id)
        .where(Entry.member_id.in_(merged_ids(session, member_id)))
        .order_by(Entry.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(Entry.id < before)
    return [entry_json(e, code) for e, code in session.execute(stmt)]


def entry_json(e: Entry, store_code: str | None) -> dict[str, Any]:
    return {
        "id": e.id,
        "member_id": e.member_id,
        "kind": e.kind,
        "points": e.points,
        "occurred_at": e.occurred_at.isoformat(),
        "recorded_at": e.recorded_at.isoformat(),
        "source": {"type": e.source_type, "id": e.source_id},
        "store_code": store_code,
        "channel": e.channel,
        "description": e.description,
        "breakdown": expand(e.breakdown),
        "expires_at": e.expires_at.isoformat() if e.expires_at else None,
        "actor": e.actor,
    }


def money(points: int, point_value: Decimal) -> int:
    """Points' worth in minor units (fen), rounded half up."""
    return int((Decimal(points) * point_value * 100).quantize(Decimal(1), ROUND_HALF_UP))


def points_summary(
    session: Session, program: Program, start: datetime, end: datetime
) -> dict[str, Any]:
    """What moved in [start, end) by kind, and what was outstanding at ``end``."""

    def total(*kinds: str, sign: int = 1) -> Any:
        return func.coalesce(
            func.sum(case((Entry.kind.in_(kinds), Entry.points * sign), else_=0)), 0
        )

    in_range = Entry.occurred_at >= start
    issued, redeemed, expired, adjusted, reversed_ = session.execute(
        select(
            total("earn"),
            total("redeem", sign=-1),
            total("expire", sign=-1),
            total("adjust"),
            total("reverse", sign=-1),
        ).where(Entry.program_id == program.id, in_range, Entry.occurred_at < end)
    ).one()
    outstanding = (
        session.scalar(
            select(func.coalesce(func.sum(Entry.points), 0)).where(
                Entry.program_id == program.id, Entry.occurred_at < end
            )
        )
        or 0
    )
    issued, redeemed, expired = int(issued), int(redeemed), int(expired)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "issued": issued,
        "redeemed": redeemed,
        "expired": expired,
        "adjusted": int(adjusted),
        "reversed": int(reversed_),
        "outstanding": int(outstanding),
        "liability_amount": money(int(outstanding), program.point_value),
        "currency": program.currency,
        "point_value": str(program.point_value),
        "redemption_rate": _rate(redeemed, issued),
        "breakage_rate": _rate(expired, issued),
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
