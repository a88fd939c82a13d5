"""Read models of the points mall: for the console, rewards with their store stock, and
redemptions with the member, reward and store they concern, filtered and store-scoped; for the
member page, one member's own redemptions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from loyalty.members.models import Member
from loyalty.rewards.models import Redemption, Reward, RewardStoreStock
from loyalty.stores.models import Store

Query = Select[Redemption, str, str | None, str | None, str | None, str, str]
STATUSES = ("pending", "fulfilled", "shipped", "completed", "cancelled", "expired")


def stock_by_store(session: Session, program_id: int) -> dict[int, dict[str, int]]:
    """For every reward with store stock: store code -> stock left there."""
    rows = session.execute(
        select(RewardStoreStock.reward_id, Store.code, RewardStoreStock.stock)
        .join(Store, Store.id == RewardStoreStock.store_id)
        .join(Reward, Reward.id == RewardStoreStock.reward_id)
        .where(Reward.program_id == program_id)
        .order_by(Store.code)
    )
    out: dict[int, dict[str, int]] = {}
    for reward_id, code, stock in rows:
        out.setdefault(reward_id, {})[code] = stock
    return out


@dataclass(frozen=True)
class RedemptionFilter:
    """What the list shows: ``store_ids`` limits a store-bound user to their stores."""

    status: str | None = None
    store_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    store_ids: frozenset[int] | None = None
    code: str | None = None


@dataclass(frozen=True)
class RedemptionRow:
    redemption: Redemption
    reward_name: str
    member_name: str | None
    member_phone: str | None
    member_no: str | None
    store_name: str | None
    verified_store_name: str | None


def _query(program_id: int, f: RedemptionFilter) -> Query:
    verified = aliased(Store)
    stmt = (
        select(
            Redemption,
            Reward.name,
            Member.name,
            Member.phone,
            Member.member_no,
            Store.name,
            verified.name,
        )
        .join(Reward, Reward.id == Redemption.reward_id)
        .join(Member, Member.id == Redemption.member_id)
        .outerjoin(Store, Store.id == Redemption.store_id)
        .outerjoin(verified, verified.id == Redemption.verified_store_id)
        .where(Redemption.program_id == program_id)
    )
    if f.status:
        stmt = stmt.where(Redemption.status == f.status)
    if f.store_id:
        stmt = stmt.where(Redemption.store_id == f.store_id)
    if f.start:
        stmt = stmt.where(Redemption.created_at >= f.start)
    if f.end:
        stmt = stmt.where(Redemption.created_at < f.end)
    if f.store_ids is not None:
        stmt = stmt.where(Redemption.store_id.in_(f.store_ids))
    if f.code:
        stmt = stmt.where(Redemption.pickup_code == f.code)
    return stmt


def redemptions(
    session: Session, program_id: int, f: RedemptionFilter, limit: int, before: int | None = None
) -> list[RedemptionRow]:
    """Newest first; ``before`` (an id) pages further back."""
    stmt = _query(program_id, f).order_by(Redemption.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(Redemption.id < before)
    return [RedemptionRow(*row) for row in session.execute(stmt)]


def all_redemptions(
    session: Session, program_id: int, f: RedemptionFilter, chunk: int = 1000
) -> Iterator[RedemptionRow]:
    """Every matching redemption, newest first, read in chunks (for exports)."""
    before: int | None = None
    while rows := redemptions(session, program_id, f, chunk, before):
        yield from rows
        before = rows[-1].redemption.id


def redemption_row(session: Session, program_id: int, redemption_id: int) -> RedemptionRow | None:
    stmt = _query(program_id, RedemptionFilter()).where(Redemption.id == redemption_id)
    row = session.execute(stmt).first()
    return RedemptionRow(*row) if row else None


def member_redemptions(
    session: Session, member_id: int, limit: int, before: int | None = None
) -> list[tuple[Redemption, Reward]]:
    """The member's redemptions with their rewards, newest first; ``before`` (an id) pages
    further back."""
    stmt = (
        select(Redemption, Reward)
        .join(Reward, Reward.id == Redemption.reward_id)
        .where(Redemption.member_id == member_id)
        .order_by(Redemption.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(Redemption.id < before)
    return [(redemption, reward) for redemption, reward in session.execute(stmt)]
