"""Members and their identifiers."""

from __future__ import annotations

from datetime import date, datetime

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

IDENTIFIER_TYPES = ("phone", "card", "wechat_openid", "wechat_unionid", "alipay_uid")
STATUSES = ("active", "frozen", "merged")


class Member(Base):
    """One person in one program, with the cached balance of their points.

    The ``points_*`` and ``lifetime_*`` columns are a cache of the ledger, written in the same
    transaction as the entries and lots; ``loyalty ledger verify`` proves for every member that
    ``available + pending + held = sum(entries)``, ``available + debt = sum(open available
    lots)``, ``pending = sum(pending lots)`` and ``held = sum(active holds)``.

    Attributes:
        points_available: spendable now; negative only while the member owes a debt.
        points_pending: earned but inside the return window.
        points_held: reserved by open holds (points used as payment, not yet captured).
        points_debt: points taken back by refunds after they were spent; later earnings repay it.
        merged_into_id: for a ``merged`` member, the survivor that now holds everything.
        lots_expire_from: no available lot of the member with points left expires before
            this, so the expiry job visits only members whose time has come and reads only
            their lots from here on. A lower bound: lowered whenever a lot gains points (an
            earn, a released hold, points given back, a merge, vesting), raised by the expiry
            job; ``None`` when none of the member's points expire. ``loyalty ledger verify``
            proves it is never too late.
    """

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("program_id", "member_no"),
        UniqueConstraint("program_id", "referral_code"),
        # Name prefix search (the console's search box); pattern ops so LIKE 'x%' uses it
        # whatever the database's collation.
        Index(
            "ix_members_program_name",
            "program_id",
            "name",
            postgresql_ops={"name": "varchar_pattern_ops"},
        ),
        # Members per tier (the dashboard) without reading every member row.
        Index("ix_members_program_status_tier", "program_id", "status", "tier_code"),
        # Every order rewrites its member's balances, and every expiry their
        # ``lots_expire_from``: no index names either, and pages keep a fifth of their room
        # free, so those rewrites stay on their page without touching an index (PostgreSQL's
        # HOT update). The expiry job walks the members in id order to find the due ones.
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_no: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(80))
    phone: Mapped[str | None] = mapped_column(String(20))
    birthday: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), default="active")
    tier_code: Mapped[str | None] = mapped_column(String(32))
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tier_protected_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    orders_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    channel: Mapped[str | None] = mapped_column(String(16))
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    referral_code: Mapped[str] = mapped_column(String(12))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    consents: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    points_available: Mapped[int] = mapped_column(BigInteger, default=0)
    points_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    points_held: Mapped[int] = mapped_column(BigInteger, default=0)
    points_debt: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_expired: Mapped[int] = mapped_column(BigInteger, default=0)
    lots_expire_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Identifier(Base):
    """A (type, value) a member is known by: unique per program."""

    __tablename__ = "member_identifiers"
    __table_args__ = (
        UniqueConstraint("program_id", "type", "value"),
        Index("ix_member_identifiers_member", "member_id"),
        # A bare value typed in a search box, whatever its type.
        Index("ix_member_identifiers_program_value", "program_id", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MemberTag(Base):
    """A tag or segment a member belongs to (``high_value``, ``vip_2026``...): rules can
    target members by it (the ``segments`` condition)."""

    __tablename__ = "member_tags"
    __table_args__ = (UniqueConstraint("member_id", "tag"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    tag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MemberLoginCode(Base):
    """A one-time code sent by SMS for signing in to the member page (stored as a digest)."""

    __tablename__ = "member_login_codes"
    __table_args__ = (Index("ix_member_login_codes_phone", "program_id", "phone", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    phone: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MemberSession(Base):
    """A member signed in on the mobile page; the cookie token is stored as its SHA-256."""

    __tablename__ = "member_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
