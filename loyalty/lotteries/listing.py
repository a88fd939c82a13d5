"""The draw audit trail of one lottery for the console: every draw with its member and
prize, and how many of each prize were drawn."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.coupons.models import Coupon
from loyalty.lotteries.models import LotteryDraw, LotteryPrize
from loyalty.members.models import Member


@dataclass(frozen=True)
class DrawRow:
    draw: LotteryDraw
    prize_name: str
    coupon_code: str | None
    member_name: str | None
    member_phone: str | None
    member_no: str | None


def draws(
    session: Session, lottery_id: int, limit: int, before: int | None = None
) -> list[DrawRow]:
    """Newest first; ``before`` (an id) pages further back."""
    stmt = (
        select(
            LotteryDraw,
            LotteryPrize.name,
            Coupon.code,
            Member.name,
            Member.phone,
            Member.member_no,
        )
        .join(LotteryPrize, LotteryPrize.id == LotteryDraw.prize_id)
        .join(Member, Member.id == LotteryDraw.member_id)
        .outerjoin(Coupon, Coupon.id == LotteryDraw.coupon_id)
        .where(LotteryDraw.lottery_id == lottery_id)
        .order_by(LotteryDraw.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(LotteryDraw.id < before)
    return [DrawRow(*row) for row in session.execute(stmt)]


def all_draws(session: Session, lottery_id: int, chunk: int = 1000) -> Iterator[DrawRow]:
    before: int | None = None
    while rows := draws(session, lottery_id, chunk, before):
        yield from rows
        before = rows[-1].draw.id


def prizes_drawn(session: Session, lottery_id: int) -> list[tuple[str, int]]:
    """(prize name, times drawn) for every prize ever drawn, in the prizes' order."""
    stmt = (
        select(LotteryPrize.name, func.count(LotteryDraw.id))
        .join(LotteryDraw, LotteryDraw.prize_id == LotteryPrize.id)
        .where(LotteryPrize.lottery_id == lottery_id)
        .group_by(LotteryPrize.id, LotteryPrize.name, LotteryPrize.position)
        .order_by(LotteryPrize.position, LotteryPrize.id)
    )
    return [(name, int(n)) for name, n in session.execute(stmt)]


def draw_count(session: Session, lottery_id: int) -> int:
    stmt = select(func.count(LotteryDraw.id)).where(LotteryDraw.lottery_id == lottery_id)
    return int(session.scalar(stmt) or 0)
