"""Points in and out of a member's account: credits, debits, holds, merges.

Every function here expects the member row to be locked by the caller (``lock_member``), so
that two requests for one member never interleave; they flush, never commit. Each keeps the
cache on the member equal to the journal and the lots (see ``Member``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from loyalty.db.bulk import Writes
from loyalty.errors import ConflictError, InvalidRequestError, NotFoundError
from loyalty.ledger.models import Allocation, Entry, Hold, Lot
from loyalty.members.models import Member


class InsufficientPointsError(ConflictError):
    code = "insufficient_points"
    title = "Insufficient points"


class HoldNotFoundError(NotFoundError):
    code = "hold_not_found"
    title = "Hold not found"


class HoldNotOpenError(ConflictError):
    code = "hold_not_open"
    title = "Hold is no longer open"


class CaptureExceedsHoldError(InvalidRequestError):
    code = "capture_exceeds_hold"
    title = "Capture exceeds the held points"


@dataclass(frozen=True)
class Credit:
    """Points to credit to one member as a new lot."""

    member: Member
    points: int
    kind: str
    source_type: str
    source_id: str | None
    occurred_at: datetime
    expires_at: datetime | None
    available_at: datetime | None = None
    description: str | None = None
    breakdown: list[Any] | None = None  # the awards explaining it: see ledger.awards
    store_id: int | None = None
    channel: str | None = None
    actor: str | None = None


@dataclass
class Debit:
    """Points to take from one member: which lots paid and what became debt."""

    from_available: int = 0
    from_pending: int = 0
    to_debt: int = 0
    allocations: list[tuple[Lot, int]] = field(default_factory=list)


BALANCE_COLUMNS = (
    "points_available",
    "points_pending",
    "points_held",
    "points_debt",
    "lifetime_earned",
    "lifetime_redeemed",
    "lifetime_expired",
)
# What the ledger caches on the member: the balances and the lower bound of their expiry.
CACHE_COLUMNS = (*BALANCE_COLUMNS, "lots_expire_from")


def credit_many(
    session: Session,
    credits: Sequence[Credit],
    now: datetime,
    *,
    write: bool = True,
    writes: Writes | None = None,
) -> list[tuple[int, int]]:
    """Write an entry and a lot per credit, repaying debt first.

    Returns, per credit, the member's (available, pending) just after it. Without ``write``
    only the (detached) members' caches change: that is a simulation.

    Set-based: two multi-row inserts whatever the number of credits. The members' caches are
    updated in the order of ``credits``. Given ``writes``, the inserts wait there to be sent
    with the caller's other writes, and the caller writes the members' caches
    (``CACHE_COLUMNS``) with them; otherwise the session flushes the members as usual.
    """
    if not credits:
        return []
    if any(c.points <= 0 for c in credits):
        raise ValueError("credits must be positive")
    lot_rows, after = [], []
    for c in credits:
        lot_rows.append(_apply_credit(c))
        after.append((c.member.points_available, c.member.points_pending))
    if not write:
        return after
    entry_rows = [_entry_row(c, now) for c in credits]
    out = writes or Writes()
    out.insert_linked(Entry, Lot, "entry_id", list(zip(entry_rows, lot_rows, strict=True)))
    if writes is None:
        out.send(session)
    return after


def _entry_row(c: Credit, now: datetime) -> dict[str, Any]:
    return {
        "program_id": c.member.program_id,
        "member_id": c.member.id,
        "kind": c.kind,
        "points": c.points,
        "occurred_at": c.occurred_at,
        "recorded_at": now,
        "source_type": c.source_type,
        "source_id": c.source_id,
        "store_id": c.store_id,
        "channel": c.channel,
        "description": c.description,
        "breakdown": c.breakdown,
        "lot_id": None,
        "expires_at": c.expires_at,
        "actor": c.actor,
    }


def _apply_credit(c: Credit) -> dict[str, Any]:
    """Update the member's cache for one credit and return its lot row."""
    m = c.member
    repay = min(m.points_debt, c.points)
    m.points_debt -= repay
    m.points_available += repay
    kept = c.points - repay
    pending = c.available_at is not None
    if pending:
        m.points_pending += kept
    else:
        m.points_available += kept
    if c.kind == "earn":
        m.lifetime_earned += c.points
    if kept:
        lots_gain_points(m, c.expires_at)
    return {
        "program_id": m.program_id,
        "member_id": m.id,
        "entry_id": None,
        "source_type": c.source_type,
        "source_id": c.source_id,
        "points": kept,
        "remaining": kept,
        "state": "pending" if pending else "available",
        "earned_at": c.occurred_at,
        "available_at": c.available_at,
        "expires_at": c.expires_at,
        "store_id": c.store_id,
    }


def lots_gain_points(member: Member, expires_at: datetime | None) -> None:
    """A lot of the member expiring at ``expires_at`` gains points: lower the expiry bound."""
    if expires_at is not None and (
        member.lots_expire_from is None or expires_at < member.lots_expire_from
    ):
        member.lots_expire_from = expires_at


def credit(session: Session, c: Credit, now: datetime) -> None:
    credit_many(session, [c], now)


def spendable_lots(session: Session, member_id: int) -> list[Lot]:
    """Available lots with points left, soonest-expiring first (never-expiring last)."""
    return list(
        session.scalars(
            select(Lot)
            .where(Lot.member_id == member_id, Lot.state == "available", Lot.remaining > 0)
            .order_by(Lot.expires_at.is_(None), Lot.expires_at, Lot.id)
        )
    )


def take(
    session: Session,
    member: Member,
    points: int,
    *,
    first: Sequence[Lot] = (),
    allow_debt: bool = False,
) -> Debit:
    """Take ``points`` from the member's lots: ``first`` lots, then soonest-expiring.

    Without ``allow_debt`` the member must have the points available. With it, what the lots
    cannot cover becomes debt that later earnings repay.
    """
    if points <= 0:
        raise InvalidRequestError("points must be positive")
    if not allow_debt and member.points_available < points:
        raise InsufficientPointsError(
            f"{points} points needed, {max(member.points_available, 0)} available",
            available=max(member.points_available, 0),
        )
    debit = consume_lots(session, member.id, points, first=first)
    _apply_debit(member, debit)
    return debit


def consume_lots(
    session: Session, member_id: int, points: int, *, first: Sequence[Lot] = ()
) -> Debit:
    """Lower the lots' ``remaining`` by up to ``points``; what they lack is ``to_debt``."""
    debit = Debit()
    first_ids = {lot.id for lot in first}
    others = [lot for lot in spendable_lots(session, member_id) if lot.id not in first_ids]
    left = points
    for lot in [*first, *others]:
        if left == 0:
            break
        n = min(lot.remaining, left)
        if n <= 0:
            continue
        lot.remaining -= n
        left -= n
        debit.allocations.append((lot, n))
        if lot.state == "pending":
            debit.from_pending += n
        else:
            debit.from_available += n
    debit.to_debt = left
    return debit


def _apply_debit(member: Member, debit: Debit) -> None:
    member.points_pending -= debit.from_pending
    member.points_available -= debit.from_available + debit.to_debt
    member.points_debt += debit.to_debt


def write_debit_entry(
    session: Session,
    member: Member,
    debit: Debit,
    points: int,
    *,
    kind: str,
    source_type: str,
    source_id: str | None,
    occurred_at: datetime,
    now: datetime,
    description: str | None = None,
    store_id: int | None = None,
    channel: str | None = None,
    actor: str | None = None,
) -> Entry:
    entry = Entry(
        program_id=member.program_id,
        member_id=member.id,
        kind=kind,
        points=-points,
        occurred_at=occurred_at,
        recorded_at=now,
        source_type=source_type,
        source_id=source_id,
        store_id=store_id,
        channel=channel,
        description=description,
        actor=actor,
    )
    session.add(entry)
    session.flush()
    _write_allocations(session, member, debit, entry_id=entry.id)
    if kind == "redeem":
        member.lifetime_redeemed += points
    return entry


def _write_allocations(
    session: Session,
    member: Member,
    debit: Debit,
    *,
    entry_id: int | None = None,
    hold_id: int | None = None,
) -> None:
    rows = [
        {
            "member_id": member.id,
            "lot_id": lot.id,
            "entry_id": entry_id,
            "hold_id": hold_id,
            "points": n,
            "released_at": None,
        }
        for lot, n in debit.allocations
    ]
    if rows:
        session.flush()
        session.execute(insert(Allocation), rows)


def spend(
    session: Session,
    member: Member,
    points: int,
    *,
    kind: str,
    source_type: str,
    source_id: str | None,
    occurred_at: datetime,
    now: datetime,
    description: str | None = None,
    first: Sequence[Lot] = (),
    allow_debt: bool = False,
    store_id: int | None = None,
    channel: str | None = None,
    actor: str | None = None,
) -> Entry:
    """Take points (see ``take``) and journal them as one negative entry of ``kind``."""
    debit = take(session, member, points, first=first, allow_debt=allow_debt)
    return write_debit_entry(
        session,
        member,
        debit,
        points,
        kind=kind,
        source_type=source_type,
        source_id=source_id,
        occurred_at=occurred_at,
        now=now,
        description=description,
        store_id=store_id,
        channel=channel,
        actor=actor,
    )


# --- holds -------------------------------------------------------------------------------------


def place_hold(
    session: Session,
    member: Member,
    points: int,
    *,
    reference: str,
    ttl_seconds: int,
    store_id: int | None,
    now: datetime,
) -> Hold:
    """Reserve points: they leave ``available`` for ``held`` until captured or voided."""
    debit = take(session, member, points)
    member.points_held += points
    hold = Hold(
        program_id=member.program_id,
        member_id=member.id,
        points=points,
        captured_points=0,
        status="held",
        reference=reference,
        store_id=store_id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(hold)
    session.flush()
    _write_allocations(session, member, debit, hold_id=hold.id)
    return hold


def release_hold(session: Session, member: Member, hold: Hold, now: datetime) -> None:
    """Give the held points back to their lots, with their original expiry."""
    allocations = session.scalars(
        select(Allocation).where(Allocation.hold_id == hold.id, Allocation.released_at.is_(None))
    ).all()
    lots = {
        lot.id: lot
        for lot in session.scalars(select(Lot).where(Lot.id.in_([a.lot_id for a in allocations])))
    }
    for a in allocations:
        _give_to_lot(member, lots[a.lot_id], a.points)
        a.released_at = now
    member.points_held -= hold.points
    member.points_available += hold.points
    hold.closed_at = now


def _give_to_lot(member: Member, lot: Lot, points: int) -> None:
    lot.remaining += points
    lots_gain_points(member, lot.expires_at)


def capture_hold(
    session: Session, member: Member, hold: Hold, points: int | None, now: datetime
) -> Entry | None:
    """Spend ``points`` (default: all) of an open hold; the rest goes back to the member."""
    _require_open(hold, now)
    captured = hold.points if points is None else points
    if captured > hold.points:
        raise CaptureExceedsHoldError(f"{captured} requested, {hold.points} held")
    release_hold(session, member, hold, now)
    hold.status = "captured"
    hold.captured_points = captured
    if captured == 0:
        return None
    return spend(
        session,
        member,
        captured,
        kind="redeem",
        source_type="hold",
        source_id=str(hold.id),
        occurred_at=now,
        now=now,
        description=f"积分抵现 {hold.reference}",
        store_id=hold.store_id,
    )


def void_hold(session: Session, member: Member, hold: Hold, now: datetime) -> None:
    _require_open(hold, now)
    release_hold(session, member, hold, now)
    hold.status = "voided"


def _require_open(hold: Hold, now: datetime) -> None:
    if hold.status != "held":
        raise HoldNotOpenError(f"hold {hold.id} is {hold.status}", status_now=hold.status)
    if hold.expires_at <= now:
        raise HoldNotOpenError(
            f"hold {hold.id} timed out at {hold.expires_at.isoformat()}", status_now="expired"
        )


# --- merge -------------------------------------------------------------------------------------


def move_points(
    session: Session, source: Member, survivor: Member, now: datetime, actor: str | None
) -> None:
    """Move every lot, hold and cached figure of ``source`` to ``survivor``, journaled."""
    total = source.points_available + source.points_pending + source.points_held
    for table in (Lot, Hold, Allocation):
        session.execute(
            update(table).where(table.member_id == source.id).values(member_id=survivor.id)
        )
    for name in BALANCE_COLUMNS:
        setattr(survivor, name, getattr(survivor, name) + getattr(source, name))
        setattr(source, name, 0)
    lots_gain_points(survivor, source.lots_expire_from)
    source.lots_expire_from = None
    if total:
        _merge_entries(session, source, survivor, total, now, actor)
    settle_debt(session, survivor)


def _merge_entries(
    session: Session,
    source: Member,
    survivor: Member,
    total: int,
    now: datetime,
    actor: str | None,
) -> None:
    common = {
        "program_id": source.program_id,
        "occurred_at": now,
        "recorded_at": now,
        "source_type": "merge",
        "actor": actor,
    }
    session.execute(
        insert(Entry),
        [
            {
                **common,
                "member_id": source.id,
                "kind": "merge_out",
                "points": -total,
                "source_id": str(survivor.id),
                "description": f"合并到会员 {survivor.member_no}",
            },
            {
                **common,
                "member_id": survivor.id,
                "kind": "merge_in",
                "points": total,
                "source_id": str(source.id),
                "description": f"由会员 {source.member_no} 合并转入",
            },
        ],
    )


def settle_debt(session: Session, member: Member) -> None:
    """Repay a debt from available lots (after a merge or vesting brought some)."""
    if member.points_debt <= 0:
        return
    lots_total = member.points_available + member.points_debt
    n = min(member.points_debt, lots_total)
    if n <= 0:
        return
    debit = consume_lots(session, member.id, n)
    # Lots and debt shrink together: available (= lots - debt) does not move.
    member.points_debt -= n
    _write_allocations(session, member, debit)


def give_back(
    session: Session,
    member: Member,
    entry: Entry,
    *,
    source_type: str,
    source_id: str | None,
    now: datetime,
    description: str,
    actor: str | None = None,
) -> Entry:
    """Undo a spend: its points return to the very lots that paid, with their original expiry.

    A lot that expired meanwhile gets its points back too; the next ``expire`` run expires
    them, as it would have. Journaled as a positive ``reverse`` entry.
    """
    allocations = session.scalars(
        select(Allocation).where(Allocation.entry_id == entry.id, Allocation.released_at.is_(None))
    ).all()
    lots = {
        lot.id: lot
        for lot in session.scalars(select(Lot).where(Lot.id.in_([a.lot_id for a in allocations])))
    }
    points = 0
    for a in allocations:
        _give_to_lot(member, lots[a.lot_id], a.points)
        a.released_at = now
        points += a.points
    member.points_available += points
    if entry.kind == "redeem":
        member.lifetime_redeemed -= points
    back = Entry(
        program_id=member.program_id,
        member_id=member.id,
        kind="reverse",
        points=points,
        occurred_at=now,
        recorded_at=now,
        source_type=source_type,
        source_id=source_id,
        description=description,
        actor=actor,
    )
    session.add(back)
    session.flush()
    return back
