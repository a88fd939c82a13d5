"""Drawing in a lottery: pay the points, pick a prize with cryptographic randomness, award it.

A draw locks the member first (``lock_member``), as every points-changing call does, then the
rows of the prizes that have a stock (PostgreSQL: ``FOR UPDATE``; SQLite: writers queue), so
concurrent draws never give more of a prize than its stock. Only prizes still in stock take
part, so the odds re-normalise as stock runs out. Each draw is exactly once per ``draw_id``
and kept in ``lottery_draws`` with the random number and the total weight it was drawn
against. Services flush, never commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.coupons.models import CouponTemplate
from loyalty.coupons.service import issue_coupon
from loyalty.errors import ConflictError
from loyalty.ledger.policy import expiry_for
from loyalty.ledger.service import Credit, credit, spend
from loyalty.lotteries.models import Lottery, LotteryDraw, LotteryPrize
from loyalty.lotteries.picking import Pick, RandBelow, pick
from loyalty.lotteries.setup import get_lottery, remaining
from loyalty.members.models import Member
from loyalty.members.service import lock_member, require_active
from loyalty.notifications.outbox import emit
from loyalty.programs.models import Program
from loyalty.stores.service import resolve_store


class LotteryNotOpenError(ConflictError):
    code = "lottery_not_open"
    title = "Lottery is not open"


class DailyDrawLimitError(ConflictError):
    code = "daily_draw_limit_reached"
    title = "Daily draw limit reached"


class LotterySoldOutError(ConflictError):
    code = "lottery_sold_out"
    title = "No prize left in stock"


class DrawConflictError(ConflictError):
    code = "draw_conflict"
    title = "Draw id already used for another draw"


# The random source of live draws: the operating system's CSPRNG. Tests may replace it.
RANDOM_SOURCE: RandBelow = secrets.randbelow


@dataclass(frozen=True)
class DrawRequest:
    draw_id: str
    member_id: int
    request_hash: str
    store_code: str | None = None


def draw(
    session: Session,
    program: Program,
    lottery_id: int,
    req: DrawRequest,
    now: datetime,
    actor: str | None = None,
) -> dict[str, Any]:
    """One draw: 409 ``lottery_not_open``, ``daily_draw_limit_reached``,
    ``insufficient_points`` or ``lottery_sold_out`` (nothing is taken then); a retry with the
    same ``draw_id`` gets the first answer, another body 409 ``draw_conflict``."""
    member = lock_member(session, program.id, req.member_id)
    done = _find_draw(session, program.id, req.draw_id)
    if done is not None:
        if done.request_hash != req.request_hash:
            raise DrawConflictError(f"draw {req.draw_id} was made with another body")
        return done.response
    require_active(member)
    lottery = get_lottery(session, program.id, lottery_id)
    _require_open(lottery, now)
    _require_under_limit(session, program, lottery, member.id, now)
    prizes = prizes_in_stock(session, lottery.id, now)
    if not prizes:
        raise LotterySoldOutError(f"lottery {lottery.id} has no prize left in stock")
    _pay(session, program, lottery, member, req, now, actor)
    picked = pick([p.weight for p in prizes], RANDOM_SOURCE)
    prize = prizes[picked.index]
    record = _record(session, lottery, member, prize, req, picked, now)
    coupon_code = _award(session, program, member, prize, record, now, actor)
    record.response = draw_json(record, prize, member, coupon_code)
    emit(session, program.id, "lottery.drawn", _event(record.response), now, member.id)
    session.flush()
    return record.response


def _find_draw(session: Session, program_id: int, draw_id: str) -> LotteryDraw | None:
    return session.scalar(
        select(LotteryDraw).where(
            LotteryDraw.program_id == program_id, LotteryDraw.draw_id == draw_id
        )
    )


def _require_open(lottery: Lottery, now: datetime) -> None:
    if lottery.status != "active":
        raise LotteryNotOpenError(f"lottery {lottery.id} is {lottery.status}")
    if not lottery.starts_at <= now < lottery.ends_at:
        raise LotteryNotOpenError(
            f"lottery {lottery.id} is open from {lottery.starts_at.isoformat()} "
            f"to {lottery.ends_at.isoformat()}",
            starts_at=lottery.starts_at.isoformat(),
            ends_at=lottery.ends_at.isoformat(),
        )


def local_day(program: Program, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the program's local calendar day holding ``now``, in UTC."""
    tz = ZoneInfo(program.timezone)
    day = now.astimezone(tz).date()
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _require_under_limit(
    session: Session, program: Program, lottery: Lottery, member_id: int, now: datetime
) -> None:
    """The member's draws today (local day); counted under the member's lock, so exact."""
    if lottery.daily_limit is None:
        return
    start, end = local_day(program, now)
    drawn = session.scalar(
        select(func.count(LotteryDraw.id)).where(
            LotteryDraw.member_id == member_id,
            LotteryDraw.lottery_id == lottery.id,
            LotteryDraw.drawn_at >= start,
            LotteryDraw.drawn_at < end,
        )
    )
    if (drawn or 0) >= lottery.daily_limit:
        raise DailyDrawLimitError(
            f"{lottery.daily_limit} draws a day, {drawn} made today",
            daily_limit=lottery.daily_limit,
            next_at=end.isoformat(),
        )


def prizes_in_stock(session: Session, lottery_id: int, now: datetime) -> list[LotteryPrize]:
    """The prizes that can still be given, in their configured order; the ones with a stock
    are locked until commit so that a concurrent draw waits and then sees the new count."""
    base = select(LotteryPrize).where(
        LotteryPrize.lottery_id == lottery_id, LotteryPrize.active.is_(True)
    )
    stocked = base.where(LotteryPrize.stock.is_not(None)).order_by(LotteryPrize.id)
    stocked = stocked.execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stocked = stocked.with_for_update()
    prizes = [*session.scalars(stocked), *session.scalars(base.where(LotteryPrize.stock.is_(None)))]
    closed = _closed_templates(session, prizes, now)
    usable = [p for p in prizes if remaining(p) != 0 and p.template_id not in closed]
    return sorted(usable, key=lambda p: p.position)


def _closed_templates(session: Session, prizes: list[LotteryPrize], now: datetime) -> set[int]:
    """Coupon templates that could not issue now: their prizes are out of stock too."""
    ids = {p.template_id for p in prizes if p.template_id is not None}
    if not ids:
        return set()
    templates = session.scalars(select(CouponTemplate).where(CouponTemplate.id.in_(ids)))
    return {
        t.id
        for t in templates
        if not t.active
        or (t.issue_limit is not None and t.issued_count >= t.issue_limit)
        or (t.valid_until is not None and t.valid_until <= now)
    }


def _pay(
    session: Session,
    program: Program,
    lottery: Lottery,
    member: Member,
    req: DrawRequest,
    now: datetime,
    actor: str | None,
) -> None:
    if lottery.cost_points <= 0:
        return
    store = resolve_store(session, program.id, req.store_code)
    spend(
        session,
        member,
        lottery.cost_points,
        kind="redeem",
        source_type="lottery",
        source_id=req.draw_id,
        occurred_at=now,
        now=now,
        description=f"抽奖：{lottery.name}",
        store_id=store.id if store else None,
        actor=actor,
    )


def _record(
    session: Session,
    lottery: Lottery,
    member: Member,
    prize: LotteryPrize,
    req: DrawRequest,
    picked: Pick,
    now: datetime,
) -> LotteryDraw:
    prize.given += 1
    record = LotteryDraw(
        program_id=lottery.program_id,
        lottery_id=lottery.id,
        draw_id=req.draw_id,
        member_id=member.id,
        cost_points=lottery.cost_points,
        prize_id=prize.id,
        prize_kind=prize.kind,
        points_won=prize.points if prize.kind == "points" and prize.points else 0,
        random_value=picked.random_value,
        total_weight=picked.total_weight,
        request_hash=req.request_hash,
        response={},
        drawn_at=now,
    )
    session.add(record)
    session.flush()
    return record


def _award(
    session: Session,
    program: Program,
    member: Member,
    prize: LotteryPrize,
    record: LotteryDraw,
    now: datetime,
    actor: str | None,
) -> str | None:
    """Points are credited as earned points of source ``lottery``; a coupon is issued; a gift
    is recorded as won (``handed_over_at`` stays empty until it is handed over). Returns the
    coupon's code when one was issued."""
    if prize.kind == "points" and record.points_won:
        win = Credit(
            member=member,
            points=record.points_won,
            kind="earn",
            source_type="lottery",
            source_id=record.draw_id,
            occurred_at=now,
            expires_at=expiry_for(program, now),
            description=f"抽奖中奖：{prize.name}",
            actor=actor,
        )
        credit(session, win, now)
        return None
    if prize.kind == "coupon" and prize.template_id is not None:
        coupon = issue_coupon(
            session,
            program.id,
            member.id,
            prize.template_id,
            now,
            source_type="lottery",
            source_id=record.draw_id,
        )
        record.coupon_id = coupon.id
        return coupon.code
    return None


def draw_json(
    record: LotteryDraw, prize: LotteryPrize, member: Member, coupon_code: str | None
) -> dict[str, Any]:
    return {
        "draw_id": record.draw_id,
        "lottery_id": record.lottery_id,
        "member_id": record.member_id,
        "cost_points": record.cost_points,
        "prize": {
            "id": prize.id,
            "name": prize.name,
            "kind": prize.kind,
            "points": record.points_won,
            "coupon_code": coupon_code,
            "description": prize.description,
        },
        "random_value": record.random_value,
        "total_weight": record.total_weight,
        "drawn_at": record.drawn_at.isoformat(),
        "member_points": {
            "available": member.points_available,
            "pending": member.points_pending,
        },
    }


def _event(response: dict[str, Any]) -> dict[str, Any]:
    keys = ("draw_id", "lottery_id", "member_id", "cost_points", "prize")
    return {k: response[k] for k in keys}
