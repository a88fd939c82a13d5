"""Price a rule against real order history before switching it on.

Replays every order of a period through the evaluator twice, with and without the rule, and
reports the difference: extra points, their cost at the program's point value, members
affected, by store and by day. Orders the rule cannot apply to are skipped after a cheap
condition test, so a year of a million orders takes seconds, not hours.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.ledger.queries import money
from loyalty.members.models import Member
from loyalty.orders.earning import earn_settings
from loyalty.orders.models import Order
from loyalty.programs.models import Program
from loyalty.rules.engine import MemberSnapshot, OrderFacts, OrderLine, applies, evaluate
from loyalty.rules.service import active_rules
from loyalty.rules.spec import RuleSpec
from loyalty.stores.models import Store
from loyalty.tiers.service import program_tiers, tier_of

STREAM = 20_000


@dataclass
class Tally:
    orders: int = 0
    affected: int = 0
    points: int = 0
    members: set[int] = field(default_factory=set)
    by_store: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_day: dict[date, int] = field(default_factory=lambda: defaultdict(int))


def backtest(
    session: Session, program: Program, candidate: RuleSpec, start: datetime, end: datetime
) -> dict[str, Any]:
    began = time.perf_counter()
    settings = earn_settings(program)
    others = [r for r in active_rules(session, program) if r.id is None or r.id != candidate.id]
    stores = {s.id: s for s in session.scalars(select(Store).where(Store.program_id == program.id))}
    ladder, zone = program_tiers(session, program), ZoneInfo(program.timezone)
    tally, budget = Tally(), candidate.budget
    for facts, member in _history(session, program.id, start, end, stores, ladder):
        tally.orders += 1
        if not applies(candidate, facts, member, settings):
            continue
        rule = candidate if budget is None else _with_budget(candidate, budget)
        extra = (
            evaluate(facts, member, settings, [*others, rule]).points
            - evaluate(facts, member, settings, others).points
        )
        if extra:
            budget = None if budget is None else budget - extra
            _count(tally, facts, member.id, extra, zone)
    return _report(program, candidate, start, end, tally, time.perf_counter() - began)


def _with_budget(rule: RuleSpec, left: int) -> RuleSpec:
    return replace(rule, budget=max(left, 0))


def _count(tally: Tally, facts: OrderFacts, member_id: int, extra: int, zone: ZoneInfo) -> None:
    tally.affected += 1
    tally.points += extra
    tally.members.add(member_id)
    tally.by_store[facts.store_code or "-"] += extra
    tally.by_day[facts.occurred_at.astimezone(zone).date()] += extra


def _history(
    session: Session,
    program_id: int,
    start: datetime,
    end: datetime,
    stores: dict[int, Store],
    ladder: list[Any],
) -> Iterator[tuple[OrderFacts, MemberSnapshot]]:
    """The period's orders as the evaluator saw them (the member's tier as it is now)."""
    stmt = (
        select(
            Order.order_id,
            Order.amount,
            Order.occurred_at,
            Order.store_id,
            Order.channel,
            Order.payment_method,
            Order.lines,
            Member.id,
            Member.tier_code,
            Member.birthday,
        )
        .join(Member, Member.id == Order.member_id)
        .where(Order.program_id == program_id, Order.occurred_at >= start, Order.occurred_at < end)
        .order_by(Order.occurred_at)
        .execution_options(yield_per=STREAM)
    )
    snapshots: dict[int, MemberSnapshot] = {}
    for row in session.execute(stmt):
        store = stores.get(row[3]) if row[3] else None
        facts = OrderFacts(
            order_id=row[0],
            amount=row[1],
            occurred_at=row[2],
            store_code=store.code if store else None,
            store_groups=tuple(store.groups or ()) if store else (),
            channel=row[4],
            payment_method=row[5],
            lines=tuple(_line(x) for x in row[6] or ()),
        )
        member = snapshots.get(row[7])
        if member is None:
            tier = tier_of(ladder, row[8])
            member = MemberSnapshot(
                id=row[7],
                tier_code=row[8],
                tier_name=tier.name,
                tier_multiplier=Fraction(tier.multiplier),
                birthday=row[9],
            )
            snapshots[row[7]] = member
        yield facts, member


def _line(data: dict[str, Any]) -> OrderLine:
    return OrderLine(
        sku=data["sku"],
        quantity=data.get("quantity", 1),
        amount=data["amount"],
        category=data.get("category"),
        tags=tuple(data.get("tags") or ()),
    )


def _report(
    program: Program, rule: RuleSpec, start: datetime, end: datetime, t: Tally, seconds: float
) -> dict[str, Any]:
    return {
        "rule": {"id": rule.id, "name": rule.name, "version": rule.version},
        "from": start.isoformat(),
        "to": end.isoformat(),
        "orders_scanned": t.orders,
        "orders_affected": t.affected,
        "extra_points": t.points,
        "cost_amount": money(t.points, program.point_value),
        "currency": program.currency,
        "members_affected": len(t.members),
        "by_store": [
            {"store_code": k, "extra_points": v, "cost_amount": money(v, program.point_value)}
            for k, v in sorted(t.by_store.items(), key=lambda kv: -kv[1])
        ],
        "by_day": [{"day": d.isoformat(), "extra_points": v} for d, v in sorted(t.by_day.items())],
        "elapsed_ms": round(seconds * 1000),
    }
