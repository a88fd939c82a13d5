"""Tier levels and each member's tier history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db.base import Base, BigId, UTCDateTime

METRICS = ("spend", "points", "orders")


class Tier(Base):
    """One level. A member qualifies when ``metric`` over the last ``window_days`` reaches
    ``threshold``; rank 0 is the base level everyone starts at.

    Attributes:
        metric: ``spend`` (net order amount, fen), ``points`` (net points earned on orders) or
            ``orders`` (orders not fully refunded).
        multiplier: earn multiplier as a decimal string (``"1.2"``), exact.
        discount_rate: price multiplier the till applies (``"0.95"``), informational.
        perks: named benefits (free delivery, birthday cake...).
    """

    __tablename__ = "tiers"
    __table_args__ = (UniqueConstraint("program_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str | None] = mapped_column(String(40))
    rank: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(8))
    threshold: Mapped[int] = mapped_column(BigInteger)
    window_days: Mapped[int] = mapped_column(Integer)
    multiplier: Mapped[str] = mapped_column(String(12))
    discount_rate: Mapped[str | None] = mapped_column(String(12))
    perks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TierChange(Base):
    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_member", "member_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    from_code: Mapped[str | None] = mapped_column(String(32))
    to_code: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
