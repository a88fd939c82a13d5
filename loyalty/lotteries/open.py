"""Lotteries as a member sees them: the ones open now, their draws today and a past result."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.lotteries.models import Lottery, LotteryDraw
from loyalty.lotteries.service import local_day
from loyalty.programs.models import Program


def open_lotteries(session: Session, program_id: int, now: datetime) -> list[Lottery]:
    """Active lotteries accepting draws now, the ones ending soonest first."""
    return list(
        session.scalars(
            select(Lottery)
            .where(
                Lottery.program_id == program_id,
                Lottery.status == "active",
                Lottery.starts_at <= now,
                Lottery.ends_at > now,
            )
            .order_by(Lottery.ends_at, Lottery.id)
        )
    )


def draws_today(
    session: Session, program: Program, lottery_id: int, member_id: int, now: datetime
) -> int:
    start, end = local_day(program, now)
    count = session.scalar(
        select(func.count(LotteryDraw.id)).where(
            LotteryDraw.lottery_id == lottery_id,
            LotteryDraw.member_id == member_id,
            LotteryDraw.drawn_at >= start,
            LotteryDraw.drawn_at < end,
        )
    )
    return int(count or 0)


def member_draw(
    session: Session, program_id: int, member_id: int, draw_id: str
) -> LotteryDraw | None:
    """One of this member's draws (another member's draw id finds nothing)."""
    return session.scalar(
        select(LotteryDraw).where(
            LotteryDraw.program_id == program_id,
            LotteryDraw.member_id == member_id,
            LotteryDraw.draw_id == draw_id,
        )
    )
