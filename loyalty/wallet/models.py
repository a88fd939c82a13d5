"""The stored-value wallet, its append-only journal, and the top-ups, payments and refunds
that move money in and out of it.

All amounts are integers in the program's minor unit (fen). A wallet holds two kinds of money:
``principal`` (what the member paid in) and ``bonus`` (value given away by a top-up bonus).
Both can be spent like cash; keeping them apart is what lets the finance team tell real
prepaid liability from promotional value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.db.base import Base, BigId, UTCDateTime

ENTRY_KINDS = ("top_up", "bonus", "payment", "refund", "merge_in", "merge_out")


class Wallet(Base):
    """One member's stored value: a cache of the journal, written in the same transaction.

    ``loyalty.wallet.verify.verify_wallets`` proves for every wallet that ``balance = principal
    + bonus``, that each equals the sum of the member's ``wallet_entries``, that the last entry's
    ``balance_after`` is ``balance``, and that the lifetime figures add up to the journal.

    Attributes:
        balance: spendable money, ``principal + bonus``; never negative.
        principal: money the member paid in and has not spent.
        bonus: value given by top-up bonuses and not yet spent.
        topped_up / bonus_given / paid / refunded: lifetime totals of each kind of entry
            (``paid`` is the gross of payments, before refunds).
    """

    __tablename__ = "wallets"
    __table_args__ = (UniqueConstraint("member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    principal: Mapped[int] = mapped_column(BigInteger, default=0)
    bonus: Mapped[int] = mapped_column(BigInteger, default=0)
    topped_up: Mapped[int] = mapped_column(BigInteger, default=0)
    bonus_given: Mapped[int] = mapped_column(BigInteger, default=0)
    paid: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WalletEntry(Base):
    """One immutable movement of stored value; corrections are new entries, never edits.

    Attributes:
        kind: ``top_up`` (money paid in), ``bonus`` (value a top-up bonus gave), ``payment``
            (spent at a till), ``refund`` (a payment given back), ``merge_in`` / ``merge_out``
            (a balance moved between two accounts of one person).
        amount: signed, ``principal + bonus``; the sum over a member is the wallet's balance.
        principal / bonus: the signed change of each part of the balance.
        balance_after: the wallet's balance just after this entry, as on a bank statement.
        occurred_at / recorded_at: business time and when the row was written (the same for
            live calls; kept apart like the points journal for imports).
        source_type / source_id: what caused it (``top_up``/top-up id, ``payment``/payment id,
            ``refund``/refund id, ``merge``/member id).
        description / description_en: a sentence for the member's history.
        actor: who did it (API key name, console user, job).
    """

    __tablename__ = "wallet_entries"
    __table_args__ = (
        Index("ix_wallet_entries_member", "member_id", "id"),
        Index("ix_wallet_entries_program_time", "program_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[int] = mapped_column(BigInteger)
    bonus: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source_type: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    description: Mapped[str | None] = mapped_column(String(255))
    description_en: Mapped[str | None] = mapped_column(String(255))
    actor: Mapped[str | None] = mapped_column(String(64))


class TopUpBonus(Base):
    """A top-up bonus tier of a program: a top-up of at least ``min_amount`` gets
    ``bonus_points`` points and ``bonus_amount`` of stored value. Only the tier with the highest
    ``min_amount`` not above the top-up applies; tiers do not add up."""

    __tablename__ = "wallet_top_up_bonuses"
    __table_args__ = (UniqueConstraint("program_id", "min_amount"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    min_amount: Mapped[int] = mapped_column(BigInteger)
    bonus_points: Mapped[int] = mapped_column(BigInteger, default=0)
    bonus_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TopUp(Base):
    """A top-up as the till sent it, with the bonus it got and the answer it was given.

    ``(program_id, top_up_id)`` is unique: a retry finds this row and gets ``response`` again;
    the same id with another ``request_hash`` is a conflict. ``bonus_tier`` keeps the tier that
    applied, so changing the tiers later never rewrites what a member was given.
    """

    __tablename__ = "wallet_top_ups"
    __table_args__ = (
        UniqueConstraint("program_id", "top_up_id"),
        Index("ix_wallet_top_ups_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    top_up_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    bonus_amount: Mapped[int] = mapped_column(BigInteger)
    bonus_points: Mapped[int] = mapped_column(BigInteger)
    bonus_tier: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    payment_method: Mapped[str | None] = mapped_column(String(32))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WalletPayment(Base):
    """A payment from the wallet, split into the principal and bonus it spent, and how much of
    each has been refunded (refunds give back in the same proportion)."""

    __tablename__ = "wallet_payments"
    __table_args__ = (
        UniqueConstraint("program_id", "payment_id"),
        Index("ix_wallet_payments_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    payment_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[int] = mapped_column(BigInteger)
    bonus: Mapped[int] = mapped_column(BigInteger)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_principal: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_bonus: Mapped[int] = mapped_column(BigInteger, default=0)
    order_id: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WalletRefund(Base):
    """Money given back to the wallet for (part of) a payment, once per ``refund_id``."""

    __tablename__ = "wallet_refunds"
    __table_args__ = (UniqueConstraint("program_id", "refund_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    payment_pk: Mapped[int] = mapped_column(ForeignKey("wallet_payments.id"))
    refund_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[int] = mapped_column(BigInteger)
    bonus: Mapped[int] = mapped_column(BigInteger)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
