"""Lotteries and their prizes, as operators configure them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from loyalty.coupons.models import CouponTemplate
from loyalty.errors import InvalidRequestError, NotFoundError
from loyalty.lotteries.models import Lottery, LotteryPrize


class LotteryNotFoundError(NotFoundError):
    code = "lottery_not_found"
    title = "Lottery not found"


class UnknownCouponTemplateError(InvalidRequestError):
    code = "unknown_coupon_template"
    title = "Unknown coupon template"


FIELDS = ("name", "name_en", "cost_points", "starts_at", "ends_at", "daily_limit", "status")


@dataclass(frozen=True)
class PrizeSpec:
    """One prize as the operator sets it; ``stock``: how many can still be given (None: no
    limit)."""

    name: str
    kind: str
    weight: int
    points: int | None = None
    template_id: int | None = None
    description: str | None = None
    stock: int | None = None
    unit_cost: int | None = None


def create_lottery(
    session: Session, program_id: int, fields: dict[str, Any], now: datetime
) -> Lottery:
    lottery = Lottery(program_id=program_id, created_at=now, updated_at=now)
    update_lottery(session, lottery, fields, now)
    session.add(lottery)
    session.flush()
    return lottery


def update_lottery(
    session: Session, lottery: Lottery, fields: dict[str, Any], now: datetime
) -> Lottery:
    for name in FIELDS:
        if name in fields:
            setattr(lottery, name, fields[name])
    lottery.updated_at = now
    return lottery


def lottery_fields(lottery: Lottery) -> dict[str, Any]:
    return {name: getattr(lottery, name) for name in FIELDS}


def get_lottery(session: Session, program_id: int, lottery_id: int) -> Lottery:
    lottery = session.get(Lottery, lottery_id)
    if lottery is None or lottery.program_id != program_id:
        raise LotteryNotFoundError(f"lottery {lottery_id} does not exist")
    return lottery


def list_lotteries(session: Session, program_id: int, after: int, limit: int) -> list[Lottery]:
    stmt = (
        select(Lottery)
        .where(Lottery.program_id == program_id, Lottery.id > after)
        .order_by(Lottery.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def active_prizes(session: Session, lottery_id: int) -> list[LotteryPrize]:
    stmt = (
        select(LotteryPrize)
        .where(LotteryPrize.lottery_id == lottery_id, LotteryPrize.active.is_(True))
        .order_by(LotteryPrize.position)
    )
    return list(session.scalars(stmt))


def replace_prizes(
    session: Session, lottery: Lottery, specs: list[PrizeSpec], now: datetime
) -> list[LotteryPrize]:
    """The prizes from now on. Old rows are deactivated, not deleted: past draws point to
    them and the report still counts what they gave."""
    _check_templates(session, lottery.program_id, specs)
    session.execute(
        update(LotteryPrize)
        .where(LotteryPrize.lottery_id == lottery.id, LotteryPrize.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    for position, spec in enumerate(specs):
        session.add(_prize_row(lottery, position, spec, now))
    lottery.updated_at = now
    session.flush()
    session.expire_all()
    return active_prizes(session, lottery.id)


def _prize_row(lottery: Lottery, position: int, spec: PrizeSpec, now: datetime) -> LotteryPrize:
    return LotteryPrize(
        program_id=lottery.program_id,
        lottery_id=lottery.id,
        position=position,
        given=0,
        active=True,
        created_at=now,
        **spec.__dict__,
    )


def _check_templates(session: Session, program_id: int, specs: list[PrizeSpec]) -> None:
    wanted = {s.template_id for s in specs if s.template_id is not None}
    if not wanted:
        return
    known = set(
        session.scalars(
            select(CouponTemplate.id).where(
                CouponTemplate.program_id == program_id, CouponTemplate.id.in_(wanted)
            )
        )
    )
    missing = sorted(wanted - known)
    if missing:
        raise UnknownCouponTemplateError(
            f"coupon template {missing[0]} does not exist", field="prizes.template_id"
        )


def remaining(prize: LotteryPrize) -> int | None:
    return None if prize.stock is None else max(prize.stock - prize.given, 0)


def prize_json(prize: LotteryPrize, in_stock_weight: int) -> dict[str, Any]:
    left = remaining(prize)
    available = left is None or left > 0
    return {
        "id": prize.id,
        "name": prize.name,
        "kind": prize.kind,
        "points": prize.points,
        "template_id": prize.template_id,
        "description": prize.description,
        "weight": prize.weight,
        "stock": prize.stock,
        "given": prize.given,
        "remaining": left,
        "unit_cost": prize.unit_cost,
        "odds": round(prize.weight / in_stock_weight, 6) if available and in_stock_weight else 0.0,
    }


def lottery_json(lottery: Lottery, prizes: list[LotteryPrize]) -> dict[str, Any]:
    weight = sum(p.weight for p in prizes if remaining(p) != 0)
    return {
        "id": lottery.id,
        **{k: getattr(lottery, k) for k in FIELDS},
        "starts_at": lottery.starts_at.isoformat(),
        "ends_at": lottery.ends_at.isoformat(),
        "prizes": [prize_json(p, weight) for p in prizes],
        "created_at": lottery.created_at.isoformat(),
        "updated_at": lottery.updated_at.isoformat(),
    }
