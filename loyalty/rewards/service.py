"""Redeeming rewards, cancelling, and verifying pickup codes at the counter (核销).

Every redemption locks the member, then the reward row (PostgreSQL ``FOR UPDATE``; SQLite
writers queue), so concurrent redemptions never oversell stock or overspend points.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from loyalty.ledger.models import Entry
from loyalty.ledger.queries import money
from loyalty.ledger.service import give_back, spend
from loyalty.members.models import Member
from loyalty.members.service import lock_member, require_active
from loyalty.money import yuan
from loyalty.notifications.outbox import emit
from loyalty.programs.models import Program
from loyalty.rewards.catalog import get_reward, store_stock, usage, why_not
from loyalty.rewards.models import Address, Redemption, Reward, RewardStoreStock
from loyalty.stores.models import Store
from loyalty.stores.service import resolve_store


class RedemptionConflictError(ConflictError):
    code = "redemption_conflict"
    title = "Redemption id already used for another redemption"


class CannotRedeemError(ConflictError):
    code = "cannot_redeem"
    title = "This reward cannot be redeemed now"


class RedemptionNotFoundError(NotFoundError):
    code = "redemption_not_found"
    title = "Redemption not found"


class AddressRequiredError(InvalidRequestError):
    code = "address_required"
    title = "A saved delivery address is needed"


class PickupStoreRequiredError(InvalidRequestError):
    code = "store_required"
    title = "Choose the store to pick up at"


class InvalidTransitionError(ConflictError):
    code = "invalid_status"
    title = "Not possible in this status"


class CodeAlreadyUsedError(ConflictError):
    code = "already_verified"
    title = "This code was already used"


class WrongStoreError(PermissionDeniedError):
    code = "wrong_store"
    title = "Not to be picked up at this store"


@dataclass(frozen=True)
class RedeemRequest:
    redemption_id: str
    member_id: int
    reward_id: int
    quantity: int
    request_hash: str
    store_code: str | None = None
    address_id: int | None = None
    points: int | None = None  # fewer than the price: the rest is paid in money


def redeem(
    session: Session, program: Program, req: RedeemRequest, now: datetime, actor: str | None = None
) -> dict[str, Any]:
    """Take the points (soonest-expiring first) and reserve the stock, in one transaction."""
    done = _find(session, program.id, req.redemption_id)
    if done is not None:
        if done.request_hash != req.request_hash:
            raise RedemptionConflictError(f"{req.redemption_id} was used for another request")
        return redemption_json(session, done)
    member = lock_member(session, program.id, req.member_id)
    require_active(member)
    reward = get_reward(session, program.id, req.reward_id, lock=True)
    store = resolve_store(session, program.id, req.store_code)
    points, cash = _price(program, reward, member, req)
    _check(session, program, reward, member, req, points, now)
    redemption = _record(session, program, member, reward, store, req, points, cash, now)
    _take_stock(session, reward, store, req.quantity)
    entry = (
        spend(
            session,
            member,
            points,
            kind="redeem",
            source_type="redemption",
            source_id=req.redemption_id,
            occurred_at=now,
            now=now,
            actor=actor,
            store_id=store.id if store else None,
            description=f"兑换 {reward.name} ×{req.quantity}",
        )
        if points
        else None
    )
    redemption.entry_id = entry.id if entry else None
    _fulfil_instant(session, program, member, reward, redemption, now, actor)
    emit(
        session,
        program.id,
        "points.redeemed",
        {
            "member_id": member.id,
            "points": points,
            "redemption_id": req.redemption_id,
            "reward_id": reward.id,
        },
        now,
        member.id,
    )
    session.flush()
    return redemption_json(session, redemption)


def _find(session: Session, program_id: int, redemption_id: str) -> Redemption | None:
    return session.scalar(
        select(Redemption).where(
            Redemption.program_id == program_id, Redemption.redemption_id == redemption_id
        )
    )


def _price(program: Program, reward: Reward, member: Member, req: RedeemRequest) -> tuple[int, int]:
    """Points to take and money due: ``500 积分 + ¥5``, or part paid in money at the till."""
    full = reward.points_price * req.quantity
    cash = reward.cash_price * req.quantity
    if req.points is None or req.points >= full:
        return full, cash
    if not reward.allow_partial:
        raise CannotRedeemError("this reward must be paid in full with points")
    return req.points, cash + money(full - req.points, program.point_value)


def _check(
    session: Session,
    program: Program,
    reward: Reward,
    member: Member,
    req: RedeemRequest,
    points: int,
    now: datetime,
) -> None:
    day_start = _day_start(program, now)
    reason = why_not(reward, member, usage(session, member.id, day_start), now, req.quantity)
    if reason and not reason[1].endswith("points short"):
        raise CannotRedeemError(reason[0], reason_en=reason[1])
    if member.points_available < points:
        short = points - member.points_available
        raise CannotRedeemError(
            f"差 {short} 积分", reason_en=f"{short} points short", code_detail="insufficient_points"
        )


def _day_start(program: Program, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(program.timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _record(
    session: Session,
    program: Program,
    member: Member,
    reward: Reward,
    store: Store | None,
    req: RedeemRequest,
    points: int,
    cash: int,
    now: datetime,
) -> Redemption:
    pickup = reward.fulfilment == "pickup"
    if pickup and store is None:
        raise PickupStoreRequiredError(
            "say at which store the member picks it up", field="store_code"
        )
    redemption = Redemption(
        program_id=program.id,
        redemption_id=req.redemption_id,
        member_id=member.id,
        reward_id=reward.id,
        quantity=req.quantity,
        points=points,
        cash_due=cash,
        status="completed" if reward.fulfilment == "instant" else "pending",
        fulfilment=reward.fulfilment,
        store_id=store.id if store else None,
        pickup_code=_new_code(session, program.id) if pickup else None,
        pickup_until=now + timedelta(days=reward.pickup_days) if pickup else None,
        address=_address(session, member, req) if reward.fulfilment == "delivery" else None,
        request_hash=req.request_hash,
        created_at=now,
        updated_at=now,
    )
    session.add(redemption)
    session.flush()
    return redemption


def _new_code(session: Session, program_id: int) -> str:
    """An 8-digit pickup code, unguessable and unique among the program's redemptions."""
    while True:
        code = f"{secrets.randbelow(10**8):08d}"
        taken = session.scalar(
            select(Redemption.id).where(
                Redemption.program_id == program_id, Redemption.pickup_code == code
            )
        )
        if taken is None:
            return code


def _address(session: Session, member: Member, req: RedeemRequest) -> dict[str, Any]:
    stmt = select(Address).where(Address.member_id == member.id)
    stmt = (
        stmt.where(Address.id == req.address_id)
        if req.address_id
        else stmt.order_by(Address.is_default.desc(), Address.id.desc())
    )
    address = session.scalars(stmt.limit(1)).first()
    if address is None:
        raise AddressRequiredError(
            "the member has no saved address; save one first", field="address_id"
        )
    return {
        "recipient": address.recipient,
        "phone": address.phone,
        "region": address.region,
        "detail": address.detail,
    }


def _take_stock(session: Session, reward: Reward, store: Store | None, quantity: int) -> None:
    if reward.stock is not None:
        reward.stock -= quantity
    reward.redeemed_count += quantity
    if store is None:
        return
    row = session.scalar(
        select(RewardStoreStock).where(
            RewardStoreStock.reward_id == reward.id, RewardStoreStock.store_id == store.id
        )
    )
    if row is not None:
        if row.stock < quantity:
            raise CannotRedeemError("该门店已兑完", reason_en="out of stock at this store")
        row.stock -= quantity
    elif store_stock(session, reward.id):
        raise CannotRedeemError("该门店不提供此礼品", reason_en="not offered at this store")


def _fulfil_instant(
    session: Session,
    program: Program,
    member: Member,
    reward: Reward,
    redemption: Redemption,
    now: datetime,
    actor: str | None,
) -> None:
    if reward.kind == "coupon" and reward.coupon_template_id:
        from loyalty.coupons.service import issue_coupon

        coupon = issue_coupon(
            session,
            program.id,
            member.id,
            reward.coupon_template_id,
            now,
            source_type="redemption",
            source_id=redemption.redemption_id,
        )
        redemption.coupon_code = coupon.code
    elif reward.kind == "stored_value" and reward.stored_value_amount:
        from loyalty.wallet.journal import Movement, open_wallet, post

        amount = reward.stored_value_amount * redemption.quantity
        post(
            session,
            open_wallet(session, member, now),
            Movement(
                "bonus",
                0,
                amount,
                "redemption",
                redemption.redemption_id,
                f"积分兑换储值 ¥{yuan(amount)}",
                f"Stored value from points ¥{yuan(amount)}",
            ),
            now,
            actor,
        )


# --- after the redemption ----------------------------------------------------------------------


def get_redemption(session: Session, program_id: int, redemption_id: str) -> Redemption:
    found = _find(session, program_id, redemption_id)
    if found is None:
        raise RedemptionNotFoundError(f"redemption {redemption_id} does not exist")
    return found


def cancel(
    session: Session,
    program: Program,
    redemption_id: str,
    now: datetime,
    actor: str | None,
    status: str = "cancelled",
) -> dict[str, Any]:
    """Points go back to their lots with their original expiry; stock goes back on the shelf."""
    found = get_redemption(session, program.id, redemption_id)
    member = lock_member(session, program.id, found.member_id)
    redemption = get_redemption(session, program.id, redemption_id)
    session.refresh(redemption)
    if redemption.status != "pending":
        raise InvalidTransitionError(
            f"a {redemption.status} redemption cannot be cancelled", status_now=redemption.status
        )
    reward = get_reward(session, program.id, redemption.reward_id, lock=True)
    _return_stock(session, reward, redemption)
    if redemption.entry_id:
        entry = session.get(Entry, redemption.entry_id)
        assert entry is not None
        give_back(
            session,
            member,
            entry,
            source_type="redemption",
            source_id=redemption_id,
            now=now,
            actor=actor,
            description=f"取消兑换 {reward.name}，积分退回",
        )
    redemption.status, redemption.updated_at = status, now
    emit(
        session,
        program.id,
        f"redemption.{status}",
        {"redemption_id": redemption_id},
        now,
        member.id,
    )
    session.flush()
    return redemption_json(session, redemption)


def _return_stock(session: Session, reward: Reward, redemption: Redemption) -> None:
    if reward.stock is not None:
        reward.stock += redemption.quantity
    reward.redeemed_count -= redemption.quantity
    if redemption.store_id is None:
        return
    row = session.scalar(
        select(RewardStoreStock).where(
            RewardStoreStock.reward_id == reward.id,
            RewardStoreStock.store_id == redemption.store_id,
        )
    )
    if row is not None:
        row.stock += redemption.quantity


def verify_code(
    session: Session, program: Program, code: str, store: Store, now: datetime, actor: str | None
) -> dict[str, Any]:
    """Hand over a pickup at the counter: once, and only at the chosen store."""
    redemption = session.scalar(
        select(Redemption).where(
            Redemption.program_id == program.id, Redemption.pickup_code == code
        )
    )
    if redemption is None:
        raise RedemptionNotFoundError("no redemption has this pickup code")
    lock_member(session, program.id, redemption.member_id)
    session.refresh(redemption)
    if redemption.status == "fulfilled":
        used_at = session.get(Store, redemption.verified_store_id)
        raise CodeAlreadyUsedError(
            f"picked up at {used_at.name if used_at else '?'} on "
            f"{redemption.verified_at.isoformat() if redemption.verified_at else '?'}",
            used_at=redemption.verified_at.isoformat() if redemption.verified_at else None,
            used_store_code=used_at.code if used_at else None,
        )
    if redemption.status != "pending":
        raise InvalidTransitionError(
            f"this redemption is {redemption.status}", status_now=redemption.status
        )
    if redemption.store_id is not None and redemption.store_id != store.id:
        raise WrongStoreError("this pickup belongs to another store")
    redemption.status, redemption.verified_at = "fulfilled", now
    redemption.verified_store_id, redemption.updated_at = store.id, now
    emit(
        session,
        program.id,
        "redemption.fulfilled",
        {"redemption_id": redemption.redemption_id},
        now,
        redemption.member_id,
    )
    session.flush()
    return redemption_json(session, redemption)


def advance(
    session: Session,
    program: Program,
    redemption_id: str,
    to: str,
    now: datetime,
    tracking: str | None = None,
) -> dict[str, Any]:
    """Delivery: ``pending`` → ``shipped`` → ``completed``; a pickup: ``fulfilled`` →
    ``completed``."""
    redemption = get_redemption(session, program.id, redemption_id)
    allowed = {"shipped": ("pending",), "completed": ("shipped", "fulfilled")}
    if redemption.status not in allowed[to] or (
        to == "shipped" and redemption.fulfilment != "delivery"
    ):
        raise InvalidTransitionError(
            f"a {redemption.status} {redemption.fulfilment} redemption cannot become {to}"
        )
    redemption.status, redemption.updated_at = to, now
    if tracking:
        redemption.tracking = tracking
    session.flush()
    return redemption_json(session, redemption)


def redemption_json(session: Session, r: Redemption) -> dict[str, Any]:
    store = session.get(Store, r.store_id) if r.store_id else None
    reward = session.get(Reward, r.reward_id)
    return {
        "redemption_id": r.redemption_id,
        "member_id": r.member_id,
        "reward_id": r.reward_id,
        "reward_name": reward.name if reward else None,
        "quantity": r.quantity,
        "points": r.points,
        "cash_due": r.cash_due,
        "status": r.status,
        "fulfilment": r.fulfilment,
        "store_code": store.code if store else None,
        "pickup_code": r.pickup_code,
        "pickup_qr": f"/v1/redemptions/{r.redemption_id}/qr.png" if r.pickup_code else None,
        "pickup_until": r.pickup_until.isoformat() if r.pickup_until else None,
        "address": r.address,
        "coupon_code": r.coupon_code,
        "tracking": r.tracking,
        "verified_at": r.verified_at.isoformat() if r.verified_at else None,
        "created_at": r.created_at.isoformat(),
    }


def expire_pickups(
    session: Session, program: Program, as_of: datetime, now: datetime, limit: int = 1000
) -> int:
    """Pickups not collected in time: expired, points and stock returned."""
    due = session.scalars(
        select(Redemption.redemption_id)
        .where(
            Redemption.program_id == program.id,
            Redemption.status == "pending",
            Redemption.pickup_until <= as_of,
        )
        .limit(limit)
    ).all()
    for redemption_id in due:
        cancel(session, program, redemption_id, now, "job:expire-pickups", status="expired")
    return len(due)
