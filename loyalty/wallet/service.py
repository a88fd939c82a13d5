"""Paying from a member's wallet and refunding payments; the errors of stored value.

Every call locks the member first (``lock_member``), as every points-changing call does, so two
requests for one member never interleave and a balance check cannot be overtaken: concurrent
payments never overspend. Each is exactly once per its natural id (``top_up_id``,
``payment_id``, ``refund_id``): a retry gets the first answer, the same id with another body is
409. Services flush, never commit.

Spending order: a payment takes principal and bonus value in proportion to the wallet's
balance (the bonus share rounded down), so promotional value is used up at the pace of the
money paid in and what remains keeps the mix the member bought. A refund gives each part back
in the proportion its payment took, cumulatively, so partial refunds add up exactly to the
payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import (
    ConflictError,
    InvalidRequestError,
    LoyaltyError,
    NotFoundError,
    PermissionDeniedError,
)
from loyalty.ledger.queries import merged_ids
from loyalty.members.models import Member
from loyalty.members.service import lock_member, require_active
from loyalty.money import yuan
from loyalty.notifications.outbox import emit
from loyalty.programs.models import Program
from loyalty.stores.models import Store
from loyalty.stores.service import resolve_store
from loyalty.wallet.journal import (
    Movement,
    event_payload,
    find_wallet,
    open_wallet,
    post,
    store_id,
    wallet_json,
)
from loyalty.wallet.models import TopUp, Wallet, WalletPayment, WalletRefund


class InsufficientBalanceError(ConflictError):
    code = "insufficient_balance"
    title = "Insufficient stored value"


class TopUpConflictError(ConflictError):
    code = "top_up_conflict"
    title = "Top-up id already used for another top-up"


class PaymentConflictError(ConflictError):
    code = "payment_conflict"
    title = "Payment id already used for another payment"


class WalletRefundConflictError(ConflictError):
    code = "refund_conflict"
    title = "Refund id already used for another refund"


class PaymentNotFoundError(NotFoundError):
    code = "payment_not_found"
    title = "Payment not found"


class RefundExceedsPaymentError(InvalidRequestError):
    code = "refund_exceeds_payment"
    title = "Refunds exceed the payment"


@dataclass(frozen=True)
class PaymentRequest:
    payment_id: str
    member_id: int
    amount: int
    request_hash: str
    order_id: str | None = None
    store_code: str | None = None


@dataclass(frozen=True)
class WalletRefundRequest:
    refund_id: str
    amount: int
    request_hash: str


def replay(
    record: TopUp | WalletPayment | WalletRefund, request_hash: str, conflict: LoyaltyError
) -> dict[str, Any]:
    """The first answer to a retried call, or ``conflict`` if the body changed."""
    if record.request_hash != request_hash:
        raise conflict
    return record.response


# --- payments ------------------------------------------------------------------------------


def pay(
    session: Session,
    program: Program,
    req: PaymentRequest,
    now: datetime,
    actor: str | None = None,
) -> dict[str, Any]:
    """Pay from the balance; 409 ``insufficient_balance`` if it is short (nothing is taken)."""
    member = lock_member(session, program.id, req.member_id)
    done = session.scalar(
        select(WalletPayment).where(
            WalletPayment.program_id == program.id, WalletPayment.payment_id == req.payment_id
        )
    )
    if done is not None:
        conflict = PaymentConflictError(f"payment {req.payment_id} was posted with another body")
        return replay(done, req.request_hash, conflict)
    require_active(member)
    store = resolve_store(session, program.id, req.store_code)
    wallet = _wallet_to_pay(session, member.id, req.amount)
    payment = _record_payment(session, program.id, wallet, req, store, now)
    post(session, wallet, _payment_movement(payment), now, actor)
    payment.response = _payment_json(payment, store, wallet, now)
    event = event_payload(payment.response, "payment_id", "order_id")
    emit(session, program.id, "wallet.paid", event, now, member.id)
    session.flush()
    return payment.response


def _wallet_to_pay(session: Session, member_id: int, amount: int) -> Wallet:
    wallet = find_wallet(session, member_id)
    balance = wallet.balance if wallet else 0
    if wallet is None or balance < amount:
        raise InsufficientBalanceError(
            f"¥{yuan(amount)} needed, ¥{yuan(balance)} in the wallet", balance=balance
        )
    return wallet


def _record_payment(
    session: Session,
    program_id: int,
    wallet: Wallet,
    req: PaymentRequest,
    store: Store | None,
    now: datetime,
) -> WalletPayment:
    """The payment row, with the bonus share in proportion to the balance (rounded down)."""
    bonus = wallet.bonus * req.amount // wallet.balance
    payment = WalletPayment(
        program_id=program_id,
        payment_id=req.payment_id,
        member_id=wallet.member_id,
        amount=req.amount,
        principal=req.amount - bonus,
        bonus=bonus,
        refunded_amount=0,
        refunded_principal=0,
        refunded_bonus=0,
        order_id=req.order_id,
        store_id=store_id(store),
        request_hash=req.request_hash,
        response={},
        created_at=now,
    )
    session.add(payment)
    return payment


def _payment_movement(payment: WalletPayment) -> Movement:
    paid, order = f"¥{yuan(payment.amount)}", payment.order_id
    return Movement(
        "payment",
        -payment.principal,
        -payment.bonus,
        source_type="payment",
        source_id=payment.payment_id,
        description=f"储值支付 {paid}" + (f"，订单 {order}" if order else ""),
        description_en=f"Paid {paid}" + (f" for order {order}" if order else ""),
        store_id=payment.store_id,
    )


def _payment_json(
    payment: WalletPayment, store: Store | None, wallet: Wallet, now: datetime
) -> dict[str, Any]:
    return {
        "payment_id": payment.payment_id,
        "member_id": payment.member_id,
        "amount": payment.amount,
        "principal": payment.principal,
        "bonus": payment.bonus,
        "order_id": payment.order_id,
        "store_code": store.code if store else None,
        "occurred_at": now.isoformat(),
        "wallet": wallet_json(wallet),
    }


# --- refunds -------------------------------------------------------------------------------


def refund_payment(
    session: Session,
    program: Program,
    member_id: int,
    payment_id: str,
    req: WalletRefundRequest,
    now: datetime,
    actor: str | None = None,
    till_store_id: int | None = None,
) -> dict[str, Any]:
    """Give (part of) a payment back to the wallet, once per ``refund_id``, never more than
    was paid. A till bound to a store refunds only payments made at its store."""
    member = lock_member(session, program.id, member_id)
    payment = _payment_of(session, program.id, payment_id, member)
    if till_store_id is not None and payment.store_id != till_store_id:
        raise PermissionDeniedError(f"payment {payment_id} was not made at this key's store")
    done = session.scalar(
        select(WalletRefund).where(
            WalletRefund.program_id == program.id, WalletRefund.refund_id == req.refund_id
        )
    )
    if done is not None:
        conflict = WalletRefundConflictError(f"refund {req.refund_id} was posted with another body")
        if done.payment_pk != payment.id:
            raise conflict
        return replay(done, req.request_hash, conflict)
    refund = _record_refund(session, program.id, payment, req, now)
    wallet = open_wallet(session, member, now)
    post(session, wallet, _refund_movement(payment, refund), now, actor)
    refund.response = _refund_json(payment, refund, member, wallet, now)
    event = event_payload(refund.response, "refund_id", "payment_id")
    emit(session, program.id, "wallet.refunded", event, now, member.id)
    session.flush()
    return refund.response


def _payment_of(
    session: Session, program_id: int, payment_id: str, member: Member
) -> WalletPayment:
    """The payment, if it was made by this member (or an account merged into it)."""
    payment = session.scalar(
        select(WalletPayment)
        .where(WalletPayment.program_id == program_id, WalletPayment.payment_id == payment_id)
        .execution_options(populate_existing=True)
    )
    if payment is None or payment.member_id not in merged_ids(session, member.id):
        raise PaymentNotFoundError(f"member {member.id} has no payment {payment_id}")
    return payment


def _record_refund(
    session: Session,
    program_id: int,
    payment: WalletPayment,
    req: WalletRefundRequest,
    now: datetime,
) -> WalletRefund:
    """The refund row, and the payment's refunded figures moved on by it.

    Each part comes back in the payment's own mix, cumulatively, so partial refunds add up to
    exactly what the payment took from principal and from bonus value.
    """
    refundable = payment.amount - payment.refunded_amount
    if req.amount > refundable:
        raise RefundExceedsPaymentError(
            f"refunds would total ¥{yuan(payment.refunded_amount + req.amount)}, "
            f"payment was ¥{yuan(payment.amount)}",
            refundable=refundable,
        )
    target = payment.bonus * (payment.refunded_amount + req.amount) // payment.amount
    bonus = target - payment.refunded_bonus
    payment.refunded_amount += req.amount
    payment.refunded_principal += req.amount - bonus
    payment.refunded_bonus += bonus
    refund = WalletRefund(
        program_id=program_id,
        payment_pk=payment.id,
        refund_id=req.refund_id,
        amount=req.amount,
        principal=req.amount - bonus,
        bonus=bonus,
        request_hash=req.request_hash,
        response={},
        created_at=now,
    )
    session.add(refund)
    return refund


def _refund_movement(payment: WalletPayment, refund: WalletRefund) -> Movement:
    back = f"¥{yuan(refund.amount)}"
    return Movement(
        "refund",
        refund.principal,
        refund.bonus,
        source_type="refund",
        source_id=refund.refund_id,
        description=f"储值退款 {back}，原支付 {payment.payment_id}",
        description_en=f"Refund {back} of payment {payment.payment_id}",
        store_id=payment.store_id,
    )


def _refund_json(
    payment: WalletPayment,
    refund: WalletRefund,
    member: Member,
    wallet: Wallet,
    now: datetime,
) -> dict[str, Any]:
    return {
        "refund_id": refund.refund_id,
        "payment_id": payment.payment_id,
        "member_id": member.id,
        "amount": refund.amount,
        "principal": refund.principal,
        "bonus": refund.bonus,
        "refundable": payment.amount - payment.refunded_amount,
        "occurred_at": now.isoformat(),
        "wallet": wallet_json(wallet),
    }
