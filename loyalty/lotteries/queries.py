"""Read models of lotteries: the audit trail of draws and the lottery report."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from loyalty.coupons.models import Coupon
from loyalty.ledger.queries import money
from loyalty.lotteries.models import Lottery, LotteryDraw, LotteryPrize
from loyalty.programs.models import Program


def draws_page(
    session: Session, where: ColumnElement[bool], before: int | None, limit: int
) -> list[dict[str, Any]]:
    """Draws matching ``where``, newest first, keyed by id for cursor pagination."""
    stmt = (
        select(LotteryDraw, LotteryPrize.name, Coupon.code)
        .join(LotteryPrize, LotteryPrize.id == LotteryDraw.prize_id)
        .outerjoin(Coupon, Coupon.id == LotteryDraw.coupon_id)
        .where(where)
        .order_by(LotteryDraw.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(LotteryDraw.id < before)
    return [audit_json(d, name, code) for d, name, code in session.execute(stmt)]


def audit_json(d: LotteryDraw, prize_name: str, coupon_code: str | None) -> dict[str, Any]:
    return {
        "id": d.id,
        "draw_id": d.draw_id,
        "lottery_id": d.lottery_id,
        "member_id": d.member_id,
        "cost_points": d.cost_points,
        "prize_id": d.prize_id,
        "prize_name": prize_name,
        "prize_kind": d.prize_kind,
        "points_won": d.points_won,
        "coupon_code": coupon_code,
        "random_value": d.random_value,
        "total_weight": d.total_weight,
        "drawn_at": d.drawn_at.isoformat(),
        "handed_over_at": d.handed_over_at.isoformat() if d.handed_over_at else None,
    }


# --- the report ------------------------------------------------------------------------------


def lottery_report(session: Session, program: Program) -> dict[str, Any]:
    """Per lottery: draws, points spent and won, and per prize how many were given and what
    they cost where known (points at the program's point value, others at ``unit_cost``,
    ``nothing`` is free). Two grouped queries, whatever the number of draws."""
    prizes = _prizes_given(session, program)
    stmt = (
        select(
            Lottery.id,
            Lottery.name,
            func.count(LotteryDraw.id),
            func.coalesce(func.sum(LotteryDraw.cost_points), 0),
            func.coalesce(func.sum(LotteryDraw.points_won), 0),
        )
        .outerjoin(LotteryDraw, LotteryDraw.lottery_id == Lottery.id)
        .where(Lottery.program_id == program.id)
        .group_by(Lottery.id, Lottery.name)
        .order_by(Lottery.id)
    )
    items = [
        _lottery_row(lottery_id, name, int(n), int(spent), int(won), prizes.get(lottery_id, []))
        for lottery_id, name, n, spent, won in session.execute(stmt)
    ]
    return {"currency": program.currency, "lotteries": items}


def _prizes_given(session: Session, program: Program) -> dict[int, list[dict[str, Any]]]:
    stmt = (
        select(LotteryPrize, func.count(LotteryDraw.id), func.sum(LotteryDraw.points_won))
        .join(LotteryDraw, LotteryDraw.prize_id == LotteryPrize.id)
        .where(LotteryPrize.program_id == program.id)
        .group_by(LotteryPrize.id)
        .order_by(LotteryPrize.id)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for prize, given, points in session.execute(stmt):
        row = _prize_row(prize, int(given), int(points or 0), program)
        out.setdefault(prize.lottery_id, []).append(row)
    return out


def _prize_row(prize: LotteryPrize, given: int, points: int, program: Program) -> dict[str, Any]:
    return {
        "prize_id": prize.id,
        "name": prize.name,
        "kind": prize.kind,
        "active": prize.active,
        "given": given,
        "points_won": points,
        "cost_amount": _cost(prize, given, points, program),
    }


def _cost(prize: LotteryPrize, given: int, points: int, program: Program) -> int | None:
    """In fen; ``None`` when unknown (a coupon or gift without a ``unit_cost``)."""
    if prize.kind == "points":
        return money(points, program.point_value)
    if prize.kind == "nothing":
        return 0
    return None if prize.unit_cost is None else prize.unit_cost * given


def _lottery_row(
    lottery_id: int, name: str, draws: int, spent: int, won: int, prizes: list[dict[str, Any]]
) -> dict[str, Any]:
    costs = [p["cost_amount"] for p in prizes]
    return {
        "lottery_id": lottery_id,
        "name": name,
        "draws": draws,
        "points_spent": spent,
        "points_won": won,
        "prizes": prizes,
        "prize_cost_amount": sum(c for c in costs if c is not None),
        "prize_cost_complete": all(c is not None for c in costs),
    }
