"""What the evaluator needs for a batch of orders, and what its awards leave behind.

The evaluator is pure; this module feeds it (active rules, the member's tier, whether this is
their first order, what capped rules already gave today, what budgets are left) and then
records the awards' side effects (daily cap counters, budgets, order counts), keeping the
running figures right when one batch holds several orders of one member or one budget.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from loyalty.members.models import Member
from loyalty.members.service import tags_of
from loyalty.programs.models import Program
from loyalty.rules.engine import (
    EarnSettings,
    Evaluation,
    MemberSnapshot,
    OrderFacts,
    OrderLine,
    evaluate,
)
from loyalty.rules.models import Rule, RuleDailyAward
from loyalty.rules.service import active_rules
from loyalty.rules.spec import RuleSpec
from loyalty.stores.models import Store
from loyalty.tiers.service import program_tiers, tier_of


def earn_settings(program: Program) -> EarnSettings:
    return EarnSettings(
        points=program.earn_points,
        per_amount=program.earn_per_amount,
        rounding=program.rounding,
        currency=program.currency,
        timezone=program.timezone,
        excluded_categories=frozenset(program.excluded_categories or ()),
        excluded_payment_methods=frozenset(program.excluded_payment_methods or ()),
    )


class Earning:
    """Evaluates orders in sequence for one batch, with running caps and budgets."""

    def __init__(
        self,
        session: Session,
        program: Program,
        members: Sequence[Member],
        days: set[date],
        lock: bool,
    ) -> None:
        self.settings = earn_settings(program)
        self.zone = ZoneInfo(program.timezone)
        self.rules = active_rules(session, program)
        self.ladder = program_tiers(session, program)
        self.daily_capped = {r.id for r in self.rules if r.cap_per_member_day is not None and r.id}
        self.today: dict[int, dict[tuple[int, date], int]] = defaultdict(dict)
        totals = _daily_totals(session, [m.id for m in members], list(self.daily_capped), days)
        for (member_id, rule_id, day), points in totals.items():
            self.today[member_id][(rule_id, day)] = points
        self.budget_left = _budgets(session, [r for r in self.rules if r.budget is not None], lock)
        wants_tags = any(r.conditions.segments for r in self.rules)
        self.tags = tags_of(session, [m.id for m in members]) if wants_tags else {}
        self.used: dict[int, int] = defaultdict(int)
        self.daily_rows: list[dict[str, object]] = []

    def evaluate(self, facts: OrderFacts, member: Member) -> Evaluation:
        day = facts.occurred_at.astimezone(self.zone).date()
        tier = tier_of(self.ladder, member.tier_code)
        snapshot = MemberSnapshot(
            id=member.id,
            tier_code=member.tier_code,
            tier_name=tier.name,
            tier_multiplier=tier.multiplier,
            birthday=member.birthday,
            first_order=member.orders_count == 0,
            segments=self.tags.get(member.id, frozenset()),
            earned_today={
                rid: pts for (rid, d), pts in self.today.get(member.id, {}).items() if d == day
            },
            budget_left=dict(self.budget_left),
        )
        ev = evaluate(facts, snapshot, self.settings, self.rules)
        self._account(ev, member, day, facts.occurred_at)
        return ev

    def _account(self, ev: Evaluation, member: Member, day: date, at: datetime) -> None:
        member.orders_count += 1
        if member.last_order_at is None or at > member.last_order_at:
            member.last_order_at = at
        if not (self.budget_left or self.daily_capped):
            return
        for rule_id, points in ev.by_rule().items():
            if rule_id in self.budget_left:
                self.budget_left[rule_id] -= points
                self.used[rule_id] += points
            if rule_id in self.daily_capped:
                mine = self.today[member.id]
                mine[(rule_id, day)] = mine.get((rule_id, day), 0) + points
                self.daily_rows.append(
                    {"rule_id": rule_id, "member_id": member.id, "day": day, "points": points}
                )

    def record(self, session: Session) -> None:
        """Write the daily counters and the budgets the batch used."""
        if self.daily_rows:
            session.execute(insert(RuleDailyAward), self.daily_rows)
        if self.used:
            table = cast(Table, Rule.__table__)
            session.execute(
                update(table)
                .where(table.c.id == bindparam("rid"))
                .values(budget_used=table.c.budget_used + bindparam("pts")),
                [{"rid": rid, "pts": pts} for rid, pts in self.used.items()],
            )


def _daily_totals(
    session: Session, member_ids: list[int], rule_ids: list[int], days: set[date]
) -> dict[tuple[int, int, date], int]:
    if not rule_ids or not member_ids:
        return {}
    rows = session.execute(
        select(
            RuleDailyAward.member_id,
            RuleDailyAward.rule_id,
            RuleDailyAward.day,
            func.sum(RuleDailyAward.points),
        )
        .where(
            RuleDailyAward.member_id.in_(member_ids),
            RuleDailyAward.rule_id.in_(rule_ids),
            RuleDailyAward.day.in_(days),
        )
        .group_by(RuleDailyAward.member_id, RuleDailyAward.rule_id, RuleDailyAward.day)
    )
    return {(m, r, d): int(p) for m, r, d, p in rows}


def _budgets(session: Session, rules: list[RuleSpec], lock: bool) -> dict[int, int]:
    """Budget left per budgeted rule, its row locked (PostgreSQL) so no two orders overspend."""
    ids = sorted(r.id for r in rules if r.id is not None)
    if not ids:
        return {}
    stmt = select(Rule.id, Rule.budget_used).where(Rule.id.in_(ids)).order_by(Rule.id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    used = {rule_id: spent for rule_id, spent in session.execute(stmt)}
    return {r.id: max((r.budget or 0) - used.get(r.id, 0), 0) for r in rules if r.id}


def facts_of(
    order_id: str,
    amount: int,
    occurred_at: datetime,
    store: Store | None,
    channel: str | None,
    payment_method: str | None,
    lines: tuple[OrderLine, ...],
) -> OrderFacts:
    return OrderFacts(
        order_id=order_id,
        amount=amount,
        occurred_at=occurred_at,
        store_code=store.code if store else None,
        store_groups=tuple(store.groups or ()) if store else (),
        channel=channel or (store.channel if store else None),
        payment_method=payment_method,
        lines=lines,
    )
