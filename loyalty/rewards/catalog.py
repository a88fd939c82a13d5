"""The reward catalog, and what a given member can redeem now (and why not)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.errors import InvalidRequestError, NotFoundError
from loyalty.members.models import Member
from loyalty.rewards.models import FULFILMENTS, KINDS, Redemption, Reward, RewardStoreStock
from loyalty.stores.models import Store

OPEN = ("pending", "fulfilled", "shipped", "completed")


class RewardNotFoundError(NotFoundError):
    code = "reward_not_found"
    title = "Reward not found"


class InvalidRewardError(InvalidRequestError):
    code = "invalid_reward"
    title = "Invalid reward"


def save_reward(
    session: Session,
    program_id: int,
    data: dict[str, Any],
    now: datetime,
    reward: Reward | None = None,
) -> Reward:
    """Create a reward, or change one; the kind decides what fulfilment makes sense."""
    if reward is None:
        reward = Reward(program_id=program_id, created_at=now, redeemed_count=0)
        session.add(reward)
    for key, value in data.items():
        setattr(reward, key, value)
    reward.updated_at = now
    _check(reward)
    session.flush()
    return reward


def _check(r: Reward) -> None:
    if r.kind not in KINDS or r.fulfilment not in FULFILMENTS:
        raise InvalidRewardError("unknown kind or fulfilment", field="kind")
    if r.kind == "coupon" and not r.coupon_template_id:
        raise InvalidRewardError(
            "a coupon reward needs coupon_template_id", field="coupon_template_id"
        )
    if r.kind == "stored_value" and not r.stored_value_amount:
        raise InvalidRewardError(
            "a stored value reward needs stored_value_amount", field="stored_value_amount"
        )
    instant = r.kind in ("coupon", "stored_value")
    if instant != (r.fulfilment == "instant"):
        raise InvalidRewardError(
            "coupons and stored value are instant; gifts and services are picked up or delivered",
            field="fulfilment",
        )
    if r.available_from and r.available_until and r.available_from >= r.available_until:
        raise InvalidRewardError(
            "available_until is before available_from", field="available_until"
        )


def get_reward(session: Session, program_id: int, reward_id: int, *, lock: bool = False) -> Reward:
    stmt = select(Reward).where(Reward.id == reward_id, Reward.program_id == program_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    reward = session.scalar(stmt.execution_options(populate_existing=True))
    if reward is None:
        raise RewardNotFoundError(f"reward {reward_id} does not exist")
    return reward


def set_store_stock(session: Session, reward: Reward, store: Store, stock: int) -> None:
    row = session.scalar(
        select(RewardStoreStock).where(
            RewardStoreStock.reward_id == reward.id, RewardStoreStock.store_id == store.id
        )
    )
    if row is None:
        session.add(RewardStoreStock(reward_id=reward.id, store_id=store.id, stock=stock))
    else:
        row.stock = stock
    session.flush()


def store_stock(session: Session, reward_id: int) -> dict[int, int]:
    rows = session.execute(
        select(RewardStoreStock.store_id, RewardStoreStock.stock).where(
            RewardStoreStock.reward_id == reward_id
        )
    )
    return {store_id: stock for store_id, stock in rows}


def list_rewards(session: Session, program_id: int, status: str | None = None) -> list[Reward]:
    stmt = select(Reward).where(Reward.program_id == program_id).order_by(Reward.id)
    if status:
        stmt = stmt.where(Reward.status == status)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class Usage:
    today: dict[int, int]
    total: dict[int, int]


def usage(session: Session, member_id: int, day_start: datetime) -> Usage:
    """How many of each reward the member redeemed today and ever (cancellations excluded)."""

    def counts(since: datetime | None) -> dict[int, int]:
        stmt = (
            select(Redemption.reward_id, func.sum(Redemption.quantity))
            .where(Redemption.member_id == member_id, Redemption.status.in_(OPEN))
            .group_by(Redemption.reward_id)
        )
        if since is not None:
            stmt = stmt.where(Redemption.created_at >= since)
        return {rid: int(n) for rid, n in session.execute(stmt)}

    return Usage(today=counts(day_start), total=counts(None))


def why_not(
    reward: Reward, member: Member, used: Usage, now: datetime, quantity: int = 1
) -> tuple[str, str] | None:
    """The first reason the member cannot redeem this now, in Chinese and English."""
    short = reward.points_price * quantity - member.points_available
    checks = [
        (reward.status != "on", ("已下架", "off the shelf")),
        (
            reward.available_from is not None and now < reward.available_from,
            ("尚未开始兑换", "not yet available"),
        ),
        (
            reward.available_until is not None and now >= reward.available_until,
            ("兑换已结束", "no longer available"),
        ),
        (
            bool(reward.tiers) and (member.tier_code or "base") not in reward.tiers,
            ("会员等级不符", "not for your tier"),
        ),
        (reward.stock is not None and reward.stock < quantity, ("已兑完", "out of stock")),
        (
            reward.limit_per_day is not None
            and used.today.get(reward.id, 0) + quantity > reward.limit_per_day,
            ("今日兑换次数已满", "daily limit reached"),
        ),
        (
            reward.limit_total is not None
            and used.total.get(reward.id, 0) + quantity > reward.limit_total,
            ("兑换次数已满", "limit reached"),
        ),
        (short > 0 and not reward.allow_partial, (f"差 {short} 积分", f"{short} points short")),
    ]
    return next((reason for failed, reason in checks if failed), None)


def reward_json(r: Reward) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "name_en": r.name_en,
        "description": r.description,
        "category": r.category,
        "kind": r.kind,
        "image_url": r.image_url,
        "points_price": r.points_price,
        "cash_price": r.cash_price,
        "allow_partial": r.allow_partial,
        "coupon_template_id": r.coupon_template_id,
        "stored_value_amount": r.stored_value_amount,
        "stock": r.stock,
        "limit_per_day": r.limit_per_day,
        "limit_total": r.limit_total,
        "tiers": r.tiers or [],
        "status": r.status,
        "fulfilment": r.fulfilment,
        "pickup_days": r.pickup_days,
        "redeemed_count": r.redeemed_count,
        "available_from": r.available_from.isoformat() if r.available_from else None,
        "available_until": r.available_until.isoformat() if r.available_until else None,
    }


def member_catalog(
    session: Session, member: Member, now: datetime, day_start: datetime
) -> list[dict[str, Any]]:
    """On-shelf rewards for this member: what they can redeem now first (cheapest first),
    then the rest, closest first, each with the reason it is out of reach."""
    used = usage(session, member.id, day_start)
    rows = []
    for reward in list_rewards(session, member.program_id, "on"):
        if reward.tiers and (member.tier_code or "base") not in reward.tiers:
            continue  # hidden from tiers it is not for
        reason = why_not(reward, member, used, now)
        rows.append(
            {
                **reward_json(reward),
                "can_redeem": reason is None,
                "reason": reason[0] if reason else None,
                "reason_en": reason[1] if reason else None,
                "points_short": max(reward.points_price - member.points_available, 0),
            }
        )
    rows.sort(key=lambda r: (not r["can_redeem"], r["points_short"], r["points_price"]))
    return rows
