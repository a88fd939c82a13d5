"""Coupon templates and the coupons issued from them.

Amounts are integers in the program's minor unit (fen). A coupon keeps a copy of its
template's terms (``terms``) and its own validity window, frozen when it is issued: changing a
template later changes what future coupons promise, never what a member already holds.
"""

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

KINDS = ("amount_off", "percent_off")
STATUSES = ("issued", "used", "expired", "voided")
SOURCES = ("reward", "campaign", "bulk", "lottery", "manual")


class CouponTemplate(Base):
    """What a coupon promises and for how long; coupons are issued from it.

    Attributes:
        kind: ``amount_off`` (``amount_off`` fen off) or ``percent_off`` (``percent_off`` per
            cent off the eligible amount, rounded down, at most ``max_discount`` fen).
        min_spend: the eligible amount must reach this (满 ¥50 减 ¥10).
        valid_days / valid_from / valid_until: either ``valid_days`` after issue, or the fixed
            window [valid_from, valid_until).
        store_codes / store_groups / categories: where and on what it can be used; an empty
            list means no restriction of that kind (a store passes if it is named or belongs to
            a named group).
        issue_limit / issued_count: at most ``issue_limit`` coupons (``None``: no limit).
        active: inactive templates issue nothing; issued coupons stay usable.
    """

    __tablename__ = "coupon_templates"
    __table_args__ = (Index("ix_coupon_templates_program", "program_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    name: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str | None] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    amount_off: Mapped[int | None] = mapped_column(BigInteger)
    percent_off: Mapped[int | None] = mapped_column(Integer)
    max_discount: Mapped[int | None] = mapped_column(BigInteger)
    min_spend: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_days: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    store_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    store_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    issue_limit: Mapped[int | None] = mapped_column(BigInteger)
    issued_count: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Coupon(Base):
    """One coupon a member holds, known at the counter by its ``code``.

    Attributes:
        code: 12 characters from an alphabet without look-alikes (no 0/O, 1/I/L), drawn with
            ``secrets``; unique per program, so it cannot be guessed or confused.
        status: ``issued`` (usable inside its window), ``used``, ``expired`` (set by the
            ``expire_coupons`` job; an issued coupon past ``valid_until`` is refused anyway) or
            ``voided`` (withdrawn by an operator).
        terms: the template's discount terms, frozen at issue.
        source_type / source_id: why it was issued (``reward``/redemption id, ``campaign``,
            ``bulk``, ``lottery``/draw id, ``manual``/issue id).
        issue_id: the caller's id of a single issue, making ``POST /v1/coupons`` exactly once.
        used_*: when, where, on which order and for how much it was used, and the discount.
    """

    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        UniqueConstraint("program_id", "issue_id"),
        Index("ix_coupons_member", "member_id", "id"),
        Index("ix_coupons_template", "template_id", "status"),
        Index("ix_coupons_due", "status", "valid_until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8))
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    source_type: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str | None] = mapped_column(String(64))
    issue_id: Mapped[str | None] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    used_order_id: Mapped[str | None] = mapped_column(String(64))
    used_amount: Mapped[int | None] = mapped_column(BigInteger)
    discount: Mapped[int | None] = mapped_column(BigInteger)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(String(255))
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
