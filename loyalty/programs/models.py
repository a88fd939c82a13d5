"""A loyalty program: one brand or chain, and the settings everything else reads."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db.base import Base, BigId, UTCDateTime


class Program(Base):
    """Settings of one program.

    Attributes:
        currency: ISO code; amounts everywhere are integers in its minor unit (fen for CNY).
        timezone: IANA zone in which "Wednesday", "birthday" and "end of year" are meant.
        point_value: money (major units, e.g. yuan) one point is worth, for cost and liability.
        earn_points / earn_per_amount: base rate, ``earn_points`` per ``earn_per_amount`` minor
            units (default 1 point per 100 fen = 1 yuan).
        rounding: ``down`` (default), ``nearest`` or ``up`` for fractional points.
        expiry_policy: ``rolling`` (``expiry_days`` after earning), ``calendar_year`` (end of
            the ``expiry_years``-th calendar year after earning, local time) or ``never``.
        pending_days: earned points stay pending this many days (the return window); 0 = none.
        hold_ttl_seconds: default time-out of a points hold at the till.
        excluded_categories / excluded_payment_methods: earn nothing on these.
        rules_stamp: changed by every rule or tier change, so each process can cache the
            active rules and tiers and still see a change at the next request.
        tier_downgrade: ``requalify`` (each evaluation keeps the tier the member still
            qualifies for), ``inactive`` (back to the base tier after ``tier_inactive_days``
            without a purchase) or ``never``; ``tier_protection_days`` after an upgrade no
            downgrade happens.
    """

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    point_value: Mapped[Decimal] = mapped_column(Numeric(12, 6), default=Decimal("0.01"))
    earn_points: Mapped[int] = mapped_column(Integer, default=1)
    earn_per_amount: Mapped[int] = mapped_column(Integer, default=100)
    rounding: Mapped[str] = mapped_column(String(16), default="down")
    expiry_policy: Mapped[str] = mapped_column(String(16), default="rolling")
    expiry_days: Mapped[int] = mapped_column(Integer, default=365)
    expiry_years: Mapped[int] = mapped_column(Integer, default=1)
    pending_days: Mapped[int] = mapped_column(Integer, default=0)
    hold_ttl_seconds: Mapped[int] = mapped_column(Integer, default=900)
    excluded_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    excluded_payment_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    rules_stamp: Mapped[str] = mapped_column(String(32), default="")
    tier_downgrade: Mapped[str] = mapped_column(String(12), default="requalify")
    tier_inactive_days: Mapped[int] = mapped_column(Integer, default=60)
    tier_protection_days: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
