"""Try a rule on a sample order before saving it: the evaluator, with and without the draft.

The draft takes the place of the saved version of the same rule (if any), and is tried as if
enabled. Nothing is written: the sample order has no member behind it, only the facts the
operator typed (store, amount, time, tier, lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.orders.earning import earn_settings, facts_of
from loyalty.programs.models import Program
from loyalty.rules.engine import Evaluation, MemberSnapshot, OrderLine, evaluate
from loyalty.rules.models import Rule
from loyalty.rules.service import active_rules
from loyalty.rules.spec import RuleSpec
from loyalty.stores.models import Store
from loyalty.tiers.service import BASE, program_tiers, tier_of


@dataclass(frozen=True)
class SampleOrder:
    """An order an operator makes up to see what a rule gives."""

    amount: int
    occurred_at: datetime
    store_code: str | None = None
    payment_method: str | None = None
    tier_code: str | None = None
    first_order: bool = False
    birthday: date | None = None
    segments: frozenset[str] = frozenset()
    lines: tuple[OrderLine, ...] = ()


@dataclass(frozen=True)
class Trial:
    """The sample order's awards with the draft rule, and without it."""

    with_rule: Evaluation
    without_rule: Evaluation

    @property
    def extra(self) -> int:
        return self.with_rule.points - self.without_rule.points


def try_rule(session: Session, program: Program, draft: RuleSpec, sample: SampleOrder) -> Trial:
    """Evaluate ``sample`` with the program's enabled rules plus ``draft``, and without it."""
    others = [r for r in active_rules(session, program) if draft.id is None or r.id != draft.id]
    store = None
    if sample.store_code:
        store = session.scalar(
            select(Store).where(Store.program_id == program.id, Store.code == sample.store_code)
        )
    facts = facts_of(
        "SIMULATION",
        sample.amount,
        sample.occurred_at,
        store,
        None,
        sample.payment_method,
        sample.lines,
    )
    member = _snapshot(session, program, [*others, draft], sample)
    settings = earn_settings(program)
    return Trial(
        evaluate(facts, member, settings, [*others, draft]),
        evaluate(facts, member, settings, others),
    )


def _snapshot(
    session: Session, program: Program, rules: list[RuleSpec], sample: SampleOrder
) -> MemberSnapshot:
    tier = tier_of(program_tiers(session, program), sample.tier_code)
    return MemberSnapshot(
        id=0,
        tier_code=None if tier.code == BASE else tier.code,
        tier_name=tier.name,
        tier_multiplier=tier.multiplier,
        birthday=sample.birthday,
        first_order=sample.first_order,
        segments=sample.segments,
        budget_left=budgets_left(session, rules),
    )


def budgets_left(session: Session, rules: list[RuleSpec]) -> dict[int, int]:
    """What is left of each budgeted saved rule's budget."""
    budgeted = {r.id: r.budget for r in rules if r.id is not None and r.budget is not None}
    if not budgeted:
        return {}
    rows = session.execute(select(Rule.id, Rule.budget_used).where(Rule.id.in_(budgeted)))
    used = {rule_id: spent for rule_id, spent in rows}
    return {rid: max((budget or 0) - used.get(rid, 0), 0) for rid, budget in budgeted.items()}
