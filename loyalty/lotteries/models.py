"""Points lotteries, their prizes, and the audit trail of every draw."""

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

STATUSES = ("draft", "active", "paused", "ended")
PRIZE_KINDS = ("points", "coupon", "gift", "nothing")


class Lottery(Base):
    """A lottery members draw in for ``cost_points`` points a draw.

    Attributes:
        starts_at / ends_at: draws are accepted in [starts_at, ends_at) while ``active``.
        daily_limit: draws per member per local day (program time zone); ``None``: no limit.
    """

    __tablename__ = "lotteries"
    __table_args__ = (Index("ix_lotteries_program", "program_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    name: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str | None] = mapped_column(String(120))
    cost_points: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    daily_limit: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LotteryPrize(Base):
    """A prize and its odds: ``weight`` out of the total weight of the prizes still in stock.

    Attributes:
        kind: ``points`` (``points`` credited), ``coupon`` (a coupon of ``template_id``),
            ``gift`` (``description``, handed over later) or ``nothing``.
        stock / given: at most ``stock`` are ever given (``None``: unlimited); ``given`` counts
            them and is raised under a row lock, so concurrent draws never oversell.
        unit_cost: what one costs the program in fen, when known (for the report).
        active: replacing the prizes deactivates the old rows, which draws keep pointing to.
    """

    __tablename__ = "lottery_prizes"
    __table_args__ = (Index("ix_lottery_prizes_lottery", "lottery_id", "active"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    lottery_id: Mapped[int] = mapped_column(ForeignKey("lotteries.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int | None] = mapped_column(BigInteger)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    description: Mapped[str | None] = mapped_column(String(255))
    weight: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int | None] = mapped_column(BigInteger)
    given: Mapped[int] = mapped_column(BigInteger, default=0)
    unit_cost: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LotteryDraw(Base):
    """One draw, kept for audit: who, what it cost, the random number and what it won.

    ``random_value`` is the number ``secrets.randbelow(total_weight)`` returned, and
    ``total_weight`` the weight of the prizes in stock at that moment: together with the
    prizes' weights they show why this prize was picked. ``(program_id, draw_id)`` is unique:
    a retry gets ``response`` again; the same id with another ``request_hash`` is a conflict.
    ``handed_over_at`` stays empty until a gift is handed over.
    """

    __tablename__ = "lottery_draws"
    __table_args__ = (
        UniqueConstraint("program_id", "draw_id"),
        Index("ix_lottery_draws_lottery", "lottery_id", "id"),
        Index("ix_lottery_draws_member", "member_id", "lottery_id", "drawn_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    lottery_id: Mapped[int] = mapped_column(ForeignKey("lotteries.id"))
    draw_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    cost_points: Mapped[int] = mapped_column(BigInteger)
    prize_id: Mapped[int] = mapped_column(ForeignKey("lottery_prizes.id"))
    prize_kind: Mapped[str] = mapped_column(String(12))
    points_won: Mapped[int] = mapped_column(BigInteger, default=0)
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))
    random_value: Mapped[int] = mapped_column(BigInteger)
    total_weight: Mapped[int] = mapped_column(BigInteger)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
