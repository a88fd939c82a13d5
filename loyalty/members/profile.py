"""What the console's member page reads besides the ledger: orders, redemptions, and the two
sides of a merge before it happens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.ledger.models import Lot
from loyalty.ledger.queries import merged_ids
from loyalty.members.models import Member
from loyalty.members.service import identifiers_of
from loyalty.orders.models import Order
from loyalty.rewards.models import Redemption, Reward
from loyalty.stores.models import Store


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    occurred_at: datetime
    store_code: str | None
    channel: str | None
    amount: int
    refunded_amount: int
    points: int


@dataclass(frozen=True)
class RedemptionRow:
    redemption_id: str
    created_at: datetime
    reward_name: str
    quantity: int
    points: int
    cash_due: int
    status: str
    fulfilment: str
    pickup_code: str | None


def recent_orders(session: Session, member_id: int, limit: int = 10) -> list[OrderRow]:
    """The member's latest orders (a merged account's orders moved to the survivor)."""
    rows = session.execute(
        select(Order, Store.code)
        .outerjoin(Store, Store.id == Order.store_id)
        .where(Order.member_id == member_id)
        .order_by(Order.occurred_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return [
        OrderRow(
            o.order_id,
            o.occurred_at,
            code,
            o.channel,
            o.amount,
            o.refunded_amount,
            o.points_awarded - o.points_reversed,
        )
        for o, code in rows
    ]


def recent_redemptions(session: Session, member_id: int, limit: int = 10) -> list[RedemptionRow]:
    """The member's latest redemptions, their merged accounts' included."""
    rows = session.execute(
        select(Redemption, Reward.name)
        .join(Reward, Reward.id == Redemption.reward_id)
        .where(Redemption.member_id.in_(merged_ids(session, member_id)))
        .order_by(Redemption.id.desc())
        .limit(limit)
    )
    return [
        RedemptionRow(
            r.redemption_id,
            r.created_at,
            name,
            r.quantity,
            r.points,
            r.cash_due,
            r.status,
            r.fulfilment,
            r.pickup_code,
        )
        for r, name in rows
    ]


@dataclass(frozen=True)
class MergeSide:
    """One account as a merge preview shows it."""

    member: Member
    available: int
    pending: int
    held: int
    debt: int
    lifetime_earned: int
    lots: int
    lot_points: int
    orders: int
    identifiers: tuple[tuple[str, str], ...]


def merge_side(session: Session, member: Member) -> MergeSide:
    lots, lot_points = session.execute(
        select(func.count(), func.coalesce(func.sum(Lot.remaining), 0)).where(
            Lot.member_id == member.id, Lot.remaining > 0
        )
    ).one()
    orders = session.scalar(select(func.count()).where(Order.member_id == member.id)) or 0
    return MergeSide(
        member,
        member.points_available,
        member.points_pending,
        member.points_held,
        member.points_debt,
        member.lifetime_earned,
        int(lots),
        int(lot_points),
        int(orders),
        tuple((i.type, i.value) for i in identifiers_of(session, member.id)),
    )


def merged_outcome(survivor: MergeSide, source: MergeSide) -> MergeSide:
    """What the survivor holds after the merge: both balances, lots, orders and identifiers.

    A debt is repaid from the combined available lots at once, as the merge service does.
    """
    available = survivor.available + source.available
    debt = survivor.debt + source.debt
    repaid = min(debt, available + debt) if debt > 0 and available + debt > 0 else 0
    return MergeSide(
        survivor.member,
        available,
        survivor.pending + source.pending,
        survivor.held + source.held,
        debt - repaid,
        survivor.lifetime_earned + source.lifetime_earned,
        survivor.lots + source.lots,
        survivor.lot_points + source.lot_points - repaid,
        survivor.orders + source.orders,
        survivor.identifiers + source.identifiers,
    )
