"""Prove stored value balances: for every wallet, cache = journal, and no payment is refunded
beyond what it took."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from loyalty.ledger.verify import Mismatch
from loyalty.wallet.models import Wallet, WalletEntry, WalletPayment

# Each cached figure of a wallet and the journal column (and kinds) it must equal the sum of.
_SUMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("balance", "amount", ()),
    ("principal", "principal", ()),
    ("bonus", "bonus", ()),
    ("topped_up", "amount", ("top_up",)),
    ("bonus_given", "amount", ("bonus",)),
    ("paid", "amount", ("payment",)),
    ("refunded", "amount", ("refund",)),
)


def verify_wallets(session: Session, program_id: int | None = None) -> list[Mismatch]:
    """Every wallet whose cache disagrees with its journal, and every over-refunded payment.

    Set-based: one aggregate of the journal joined to the wallets, one scan of the payments.
    """
    sums = _journal_sums()
    stmt = select(Wallet, *[sums.c[name] for name, _, _ in _SUMS], sums.c.last_balance)
    stmt = stmt.outerjoin(sums, sums.c.member_id == Wallet.member_id)
    if program_id is not None:
        stmt = stmt.where(Wallet.program_id == program_id)
    found: list[Mismatch] = []
    for wallet, *actual in session.execute(stmt):
        found.extend(_check(wallet, [int(a or 0) for a in actual]))
    return found + _over_refunded(session, program_id)


def _journal_sums() -> Any:
    def total(column: str, kinds: tuple[str, ...]) -> Any:
        value = getattr(WalletEntry, column)
        if kinds:
            value = case((WalletEntry.kind.in_(kinds), func.abs(value)), else_=0)
        return func.sum(value)

    newest = (
        select(WalletEntry.member_id, func.max(WalletEntry.id).label("newest_id"))
        .group_by(WalletEntry.member_id)
        .subquery()
    )
    return (
        select(
            WalletEntry.member_id,
            *[total(col, kinds).label(name) for name, col, kinds in _SUMS],
            func.max(case((WalletEntry.id == newest.c.newest_id, WalletEntry.balance_after))).label(
                "last_balance"
            ),
        )
        .join(newest, newest.c.member_id == WalletEntry.member_id)
        .group_by(WalletEntry.member_id)
        .subquery()
    )


def _check(wallet: Wallet, actual: list[int]) -> list[Mismatch]:
    *sums, last_balance = actual
    checks = [(name, getattr(wallet, name), a) for (name, _, _), a in zip(_SUMS, sums, strict=True)]
    checks += [
        ("parts", wallet.balance, wallet.principal + wallet.bonus),
        ("balance_after", wallet.balance, last_balance),
        ("principal_not_negative", wallet.principal, max(wallet.principal, 0)),
        ("bonus_not_negative", wallet.bonus, max(wallet.bonus, 0)),
    ]
    return [
        Mismatch(wallet.member_id, name, cached, a) for name, cached, a in checks if cached != a
    ]


def _over_refunded(session: Session, program_id: int | None) -> list[Mismatch]:
    over = (WalletPayment.refunded_amount > WalletPayment.amount) | (
        WalletPayment.refunded_principal + WalletPayment.refunded_bonus
        != WalletPayment.refunded_amount
    )
    stmt = select(WalletPayment).where(over)
    if program_id is not None:
        stmt = stmt.where(WalletPayment.program_id == program_id)
    return [
        Mismatch(p.member_id, f"payment_refunds:{p.payment_id}", p.refunded_amount, p.amount)
        for p in session.scalars(stmt)
    ]
