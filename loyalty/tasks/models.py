"""Tasks members are rewarded for (check-in, share, review, ...), their events, referrals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db.base import Base, BigId, UTCDateTime


class Task(Base):
    """What an event of ``type`` earns, with limits per local day and per lifetime, and
    streak bonuses (``{"3": 10, "7": 50}``: 10 more on the 3rd day in a row, 50 on the 7th)."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("program_id", "type"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str | None] = mapped_column(String(80))
    points: Mapped[int] = mapped_column(BigInteger)
    daily_limit: Mapped[int | None] = mapped_column(Integer)
    lifetime_limit: Mapped[int | None] = mapped_column(Integer)
    streak_bonuses: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Event(Base):
    """A task event as posted (exactly once per ``event_id``), with the answer it got."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("program_id", "event_id"),
        Index("ix_events_member_type_day", "member_id", "type", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    event_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    day: Mapped[date] = mapped_column(Date)
    streak: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReferralReward(Base):
    """Points a referrer got for a referee, once per (referee, level)."""

    __tablename__ = "referral_rewards"
    __table_args__ = (UniqueConstraint("referee_id", "level"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    referee_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    referrer_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    level: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReferralSettings(Base):
    """How referrals pay: ``levels`` points for the referrer, the referrer's referrer, ...;
    paid when the referee ``trigger``s: ``registration`` or ``first_order``."""

    __tablename__ = "referral_settings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), unique=True)
    levels: Mapped[list[int]] = mapped_column(JSON, default=list)
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
