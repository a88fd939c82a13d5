"""Top-ups: money into the wallet, and the bonus of the best matching tier.

Where stored value meets the points ledger: bonus value lands in the wallet, bonus points are
credited as an ``earn`` of source ``top_up`` with a breakdown that explains them ("充值 ¥1000
赠 100 积分"), both in the same transaction as the top-up, which is recorded exactly once per
``top_up_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.ledger.policy import expiry_for
from loyalty.ledger.service import Credit, credit
from loyalty.members.models import Member
from loyalty.members.service import lock_member, require_active
from loyalty.money import yuan
from loyalty.notifications.outbox import emit
from loyalty.programs.models import Program
from loyalty.stores.models import Store
from loyalty.stores.service import resolve_store
from loyalty.wallet.bonuses import BonusTier, best_tier, points_award, program_tiers
from loyalty.wallet.journal import Movement, event_payload, open_wallet, post, wallet_json
from loyalty.wallet.models import TopUp, Wallet
from loyalty.wallet.service import TopUpConflictError, replay


@dataclass(frozen=True)
class TopUpRequest:
    top_up_id: str
    member_id: int
    amount: int
    request_hash: str
    payment_method: str | None = None
    store_code: str | None = None


def top_up(
    session: Session, program: Program, req: TopUpRequest, now: datetime, actor: str | None = None
) -> dict[str, Any]:
    """Credit the amount, plus the bonus of the best matching tier: value to the wallet,
    points to the points ledger (with their breakdown and the program's expiry)."""
    member = lock_member(session, program.id, req.member_id)
    done = session.scalar(
        select(TopUp).where(TopUp.program_id == program.id, TopUp.top_up_id == req.top_up_id)
    )
    if done is not None:
        conflict = TopUpConflictError(f"top-up {req.top_up_id} was posted with another body")
        return replay(done, req.request_hash, conflict)
    require_active(member)
    store = resolve_store(session, program.id, req.store_code)
    tier = best_tier(program_tiers(session, program.id), req.amount)
    record = _record(session, program.id, member, req, tier, store, now)
    wallet = open_wallet(session, member, now)
    for movement in _movements(record, tier):
        post(session, wallet, movement, now, actor)
    points = _credit_points(session, program, member, record, tier, store, now, actor)
    record.response = _top_up_json(record, member, wallet, tier, points, store, now)
    event = {**event_payload(record.response, "top_up_id"), "bonus": record.response["bonus"]}
    emit(session, program.id, "wallet.topped_up", event, now, member.id)
    session.flush()
    return record.response


def _record(
    session: Session,
    program_id: int,
    member: Member,
    req: TopUpRequest,
    tier: BonusTier | None,
    store: Store | None,
    now: datetime,
) -> TopUp:
    """The top-up row, with a copy of the tier that applied (tiers may change later)."""
    record = TopUp(
        program_id=program_id,
        top_up_id=req.top_up_id,
        member_id=member.id,
        amount=req.amount,
        bonus_amount=tier.bonus_amount if tier else 0,
        bonus_points=tier.bonus_points if tier else 0,
        bonus_tier=tier.as_dict() if tier else None,
        payment_method=req.payment_method,
        store_id=store.id if store else None,
        request_hash=req.request_hash,
        response={},
        created_at=now,
    )
    session.add(record)
    return record


def _movements(record: TopUp, tier: BonusTier | None) -> list[Movement]:
    """The money paid in, then the bonus value (if the tier gives any) as its own entry."""
    paid_in = f"¥{yuan(record.amount)}"
    via = f"（{record.payment_method}）" if record.payment_method else ""
    money = Movement(
        "top_up",
        record.amount,
        0,
        source_type="top_up",
        source_id=record.top_up_id,
        description=f"储值充值 {paid_in}{via}",
        description_en=f"Top-up {paid_in}",
        store_id=record.store_id,
    )
    if tier is None or tier.bonus_amount <= 0:
        return [money]
    given = f"¥{yuan(tier.bonus_amount)}"
    bonus = replace(
        money,
        kind="bonus",
        principal=0,
        bonus=tier.bonus_amount,
        description=f"充值 {paid_in} 赠送储值 {given}",
        description_en=f"Top-up {paid_in} bonus value: {given}",
    )
    return [money, bonus]


def _credit_points(
    session: Session,
    program: Program,
    member: Member,
    record: TopUp,
    tier: BonusTier | None,
    store: Store | None,
    now: datetime,
    actor: str | None,
) -> Credit | None:
    """Bonus points as an ``earn`` of source ``top_up``, available at once (a top-up has no
    return window), expiring as the program's policy says."""
    if tier is None or tier.bonus_points <= 0:
        return None
    award = points_award(tier, record.amount)
    c = Credit(
        member=member,
        points=tier.bonus_points,
        kind="earn",
        source_type="top_up",
        source_id=record.top_up_id,
        occurred_at=now,
        expires_at=expiry_for(program, now),
        description=award["description"],
        breakdown=[award],
        store_id=record.store_id,
        channel=store.channel if store else None,
        actor=actor,
    )
    credit(session, c, now)
    return c


def _top_up_json(
    record: TopUp,
    member: Member,
    wallet: Wallet,
    tier: BonusTier | None,
    points: Credit | None,
    store: Store | None,
    now: datetime,
) -> dict[str, Any]:
    expires_at = points.expires_at if points else None
    return {
        "top_up_id": record.top_up_id,
        "member_id": member.id,
        "amount": record.amount,
        "payment_method": record.payment_method,
        "store_code": store.code if store else None,
        "occurred_at": now.isoformat(),
        "bonus": {
            "amount": record.bonus_amount,
            "points": record.bonus_points,
            "tier": record.bonus_tier,
        },
        "points": {
            "awarded": record.bonus_points,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        "breakdown": points.breakdown if points and points.breakdown else [],
        "wallet": wallet_json(wallet),
        "member_points": {"available": member.points_available, "pending": member.points_pending},
    }
