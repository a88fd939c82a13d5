"""The points mall: rewards, their stock, member addresses and redemptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db.base import Base, BigId, UTCDateTime

KINDS = ("gift", "coupon", "stored_value", "service")
FULFILMENTS = ("pickup", "delivery", "instant")


class Reward(Base):
    """Something members spend points on.

    Attributes:
        points_price / cash_price: the price: points, plus money (fen) paid at handover
            ("500 积分 + ¥5").
        allow_partial: at the till, points may cover part of the price, the rest in money at
            the program's point value.
        stock: left overall (``None`` = unlimited); per-store stock in ``RewardStoreStock``.
        limit_per_day / limit_total: per member.
        tiers: tier codes that may see and redeem it (empty = everyone).
        status: ``on`` or ``off`` shelf; ``available_from`` / ``available_until`` schedule.
        fulfilment: ``pickup`` (a pickup code at a store), ``delivery`` (to a saved address)
            or ``instant`` (a coupon or stored value, given at once).
    """

    __tablename__ = "rewards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    name: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    image_url: Mapped[str | None] = mapped_column(String(500))
    points_price: Mapped[int] = mapped_column(BigInteger)
    cash_price: Mapped[int] = mapped_column(BigInteger, default=0)
    allow_partial: Mapped[bool] = mapped_column(Boolean, default=False)
    coupon_template_id: Mapped[int | None] = mapped_column(BigInteger)
    stored_value_amount: Mapped[int | None] = mapped_column(BigInteger)
    stock: Mapped[int | None] = mapped_column(BigInteger)
    limit_per_day: Mapped[int | None] = mapped_column(Integer)
    limit_total: Mapped[int | None] = mapped_column(Integer)
    tiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(8))
    available_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    available_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fulfilment: Mapped[str] = mapped_column(String(10))
    pickup_days: Mapped[int] = mapped_column(Integer, default=30)
    redeemed_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RewardStoreStock(Base):
    __tablename__ = "reward_store_stock"
    __table_args__ = (UniqueConstraint("reward_id", "store_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    stock: Mapped[int] = mapped_column(BigInteger)


class Address(Base):
    """A delivery address a member saved, so redeeming never means typing it again."""

    __tablename__ = "member_addresses"
    __table_args__ = (Index("ix_member_addresses_member", "member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    recipient: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Redemption(Base):
    """A member's redemption: points taken, stock reserved, then fulfilled.

    Lifecycle: ``pending`` (to pick up or ship) → ``fulfilled`` (picked up at the counter) or
    ``shipped`` → ``completed``; or ``cancelled`` / ``expired`` (points and stock go back).
    Instant rewards (coupons, stored value) are ``completed`` at once.
    """

    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("program_id", "redemption_id"),
        UniqueConstraint("program_id", "pickup_code"),
        Index("ix_redemptions_member", "member_id", "created_at"),
        Index("ix_redemptions_reward", "reward_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    redemption_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    cash_due: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    fulfilment: Mapped[str] = mapped_column(String(10))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    pickup_code: Mapped[str | None] = mapped_column(String(12))
    pickup_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    coupon_code: Mapped[str | None] = mapped_column(String(32))
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    tracking: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
