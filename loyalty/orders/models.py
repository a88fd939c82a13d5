"""Orders and refunds as the tills and malls sent them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db.base import Base, BigId, UTCDateTime


class Order(Base):
    """A posted order, kept with the fingerprint of its request and the answer it got.

    ``(program_id, order_id)`` is unique: a retry finds this row and gets ``response`` again;
    the same ``order_id`` with another ``request_hash`` is a conflict.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("program_id", "order_id"),
        Index("ix_orders_member", "member_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No key on the program and the store, as for ledger entries (``ledger.models.Entry``).
    program_id: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    store_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str | None] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    amount: Mapped[int] = mapped_column(BigInteger)
    payment_method: Mapped[str | None] = mapped_column(String(32))
    lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    points_awarded: Mapped[int] = mapped_column(BigInteger, default=0)
    points_reversed: Mapped[int] = mapped_column(BigInteger, default=0)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("program_id", "refund_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    order_pk: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    refund_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    points_reversed: Mapped[int] = mapped_column(BigInteger)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
