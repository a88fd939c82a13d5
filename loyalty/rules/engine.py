"""The earning evaluator: a pure function from an order to explained awards.

``evaluate`` reads only the frozen facts it is given (the order, a snapshot of the member,
the program's settings and the active rules): no database, no clock. That is what makes
simulation, explanation and back-testing free. Every award says why, in Chinese and English,
and the awards add up to the points credited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from functools import cache, cached_property
from typing import NamedTuple
from zoneinfo import ZoneInfo

from loyalty.money import yuan
from loyalty.rules.spec import Conditions, RuleSpec


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    amount: int
    category: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderFacts:
    order_id: str
    amount: int
    occurred_at: datetime
    store_code: str | None = None
    store_groups: tuple[str, ...] = ()
    channel: str | None = None
    payment_method: str | None = None
    lines: tuple[OrderLine, ...] = ()


@dataclass(frozen=True)
class MemberSnapshot:
    """What the rules may know of the member at the moment of the order."""

    id: int
    tier_code: str | None = None
    tier_name: str | None = None
    tier_multiplier: Fraction = Fraction(1)
    birthday: date | None = None
    first_order: bool = False
    segments: frozenset[str] = frozenset()
    earned_today: Mapping[int, int] = field(default_factory=dict)
    budget_left: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EarnSettings:
    """The program's base rate: ``points`` per ``per_amount`` minor units, and exclusions."""

    points: int = 1
    per_amount: int = 100
    rounding: str = "down"
    currency: str = "CNY"
    timezone: str = "Asia/Shanghai"
    excluded_categories: frozenset[str] = frozenset()
    excluded_payment_methods: frozenset[str] = frozenset()


class Award(NamedTuple):
    """Points one rule gives, with the sentence that explains them (a tuple: an order makes a
    dozen, and a frozen dataclass costs four times as much to build)."""

    rule: str
    points: int
    description: str
    description_en: str
    rule_id: int | None = None
    rule_version: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "rule": self.rule,
            "description": self.description,
            "description_en": self.description_en,
            "points": self.points,
        }


@dataclass(frozen=True)
class Evaluation:
    awards: tuple[Award, ...] = ()

    @cached_property
    def points(self) -> int:
        """The awards' total (asked half a dozen times per order posted)."""
        return sum([a.points for a in self.awards])

    def breakdown(self) -> list[dict[str, object]]:
        """The awards as JSON-ready dicts, as the API answers them."""
        return [a.as_dict() for a in self.awards]

    def rows(self) -> list[list[object]]:
        """The awards as the ledger keeps them (``ledger.awards``): rows in ``Award``'s field
        order."""
        return [list(a) for a in self.awards]

    def by_rule(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for a in self.awards:
            if a.rule_id is not None:
                out[a.rule_id] = out.get(a.rule_id, 0) + a.points
        return out


def divide(numerator: int, denominator: int, rounding: str) -> int:
    """Integer division with the program's rounding; never through float."""
    q, r = divmod(numerator, denominator)
    if r == 0 or rounding == "down":
        return q
    if rounding == "up":
        return q + 1
    return q + 1 if 2 * r >= denominator else q


@cache
def factor_text(f: Fraction) -> str:
    return format(Decimal(f.numerator) / Decimal(f.denominator), "f").rstrip("0").rstrip(".")


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class _Context:
    """One order as the checks and awards see it (a plain class: made for every order)."""

    __slots__ = ("amounts", "day", "eligible", "local", "member", "order", "settings", "weekday")

    def __init__(
        self,
        order: OrderFacts,
        member: MemberSnapshot,
        settings: EarnSettings,
        local: datetime,
        eligible: int,
    ) -> None:
        self.order, self.member, self.settings = order, member, settings
        self.local, self.eligible = local, eligible
        self.amounts: dict[int, int] = {}
        # Asked by every dated rule: worked out once per order.
        self.day: date = local.date()
        self.weekday: int = local.isoweekday()

    def line_amount(self, c: Conditions) -> int:
        """The eligible amount a rule works on: matching lines, or the whole order.

        Kept per conditions object; a plan gives rules with equal conditions the same one."""
        if not c.filters_lines:
            return self.eligible
        key = id(c)
        if key not in self.amounts:
            self.amounts[key] = self._lines_matching(c)
        return self.amounts[key]

    def _lines_matching(self, c: Conditions) -> int:
        return sum(
            line.amount
            for line in self.order.lines
            if line.category not in self.settings.excluded_categories
            and (
                line.category in c.categories
                or line.sku in c.skus
                or not c.tags.isdisjoint(line.tags)
            )
        )


class _Step(NamedTuple):
    """A rule as a plan runs it: compiled once per rule list, used by every order."""

    rule: RuleSpec
    kind: str
    test: int  # which of the plan's distinct condition tests decides it
    conditions: Conditions  # one object for every rule of the list with equal conditions
    zh: str  # the explanation up to its points, e.g. "周三双倍积分 ×2: +"
    en: str
    limited: bool  # has a cap or a budget


@dataclass(frozen=True)
class _Plan:
    steps: tuple[_Step, ...]  # priority order
    tests: tuple[tuple[RuleSpec, tuple[Check, ...]], ...]  # a rule asking each, its checks


class _Rate(NamedTuple):
    points: int
    per_amount: int
    step: _Step | None

    def on(self, amount: int, rounding: str) -> int:
        return divide(amount * self.points, self.per_amount, rounding)


def eligible_amount(order: OrderFacts, settings: EarnSettings) -> int:
    """What earns: nothing paid with an excluded method, nor excluded categories' lines."""
    if order.payment_method and order.payment_method in settings.excluded_payment_methods:
        return 0
    excluded = sum(
        line.amount for line in order.lines if line.category in settings.excluded_categories
    )
    return max(order.amount - excluded, 0)


def evaluate(
    order: OrderFacts,
    member: MemberSnapshot,
    settings: EarnSettings,
    rules: Sequence[RuleSpec] = (),
) -> Evaluation:
    """Every award the order earns, base rate first, then multipliers, bonuses, caps."""
    local = order.occurred_at.astimezone(_zone(settings.timezone))
    ctx = _Context(order, member, settings, local, eligible_amount(order, settings))
    matching = _matching(_plan(rules), ctx)
    rate = _rate(matching, settings)
    pairs: list[tuple[_Step | None, Award]] = [(rate.step, _base_award(ctx, rate))]
    pairs += _multiplier_awards(ctx, rate, [s for s in matching if s.kind == "multiplier"])
    pairs += [(s, _fixed_award(ctx, s)) for s in matching if s.kind in _FIXED]
    awards = [_capped(s.rule, a, member) if s and s.limited else a for s, a in pairs]
    return Evaluation(tuple([a for a in awards if a.points > 0]))


def applies(
    rule: RuleSpec, order: OrderFacts, member: MemberSnapshot, settings: EarnSettings
) -> bool:
    """Whether ``rule``'s conditions hold for this order (a quick test before evaluating)."""
    local = order.occurred_at.astimezone(_zone(settings.timezone))
    return matches(rule, _Context(order, member, settings, local, eligible_amount(order, settings)))


def _order_key(rule: RuleSpec) -> tuple[int, int]:
    return rule.priority, rule.id or 0


_FIXED = frozenset({"bonus", "per_amount"})


# --- conditions --------------------------------------------------------------------------------


Check = Callable[[RuleSpec, _Context], bool]
_PLANS: dict[int, tuple[Sequence[RuleSpec], _Plan]] = {}
PLANS_KEPT = 16


def matches(rule: RuleSpec, ctx: _Context) -> bool:
    return _passes(rule, _checks(rule), ctx)


def _passes(rule: RuleSpec, checks: tuple[Check, ...], ctx: _Context) -> bool:
    return all(check(rule, ctx) for check in checks)


def _matching(plan: _Plan, ctx: _Context) -> list[_Step]:
    """The steps whose conditions hold: each distinct test asked once, then read per rule."""
    verdicts = [
        checks[0](rule, ctx) if len(checks) == 1 else _passes(rule, checks, ctx)
        for rule, checks in plan.tests
    ]
    return [step for step in plan.steps if verdicts[step.test]]


def _plan(rules: Sequence[RuleSpec]) -> _Plan:
    """The rules compiled: priority order, only the checks their conditions need, rules with
    equal conditions (and schedule) sharing one test, explanations' fixed part written out.

    Worked out once per rule list: a process evaluates every order against the same list
    (``active_rules`` keeps one per program until the rules change), so fifty rules cost
    about one test each instead of a dozen, and rules of one campaign share theirs.
    """
    hit = _PLANS.get(id(rules))
    if hit is not None and hit[0] is rules:
        return hit[1]
    plan = _compile(rules)
    if len(_PLANS) >= PLANS_KEPT:
        _PLANS.clear()
    _PLANS[id(rules)] = (rules, plan)
    return plan


def _compile(rules: Sequence[RuleSpec]) -> _Plan:
    index: dict[tuple[Conditions, datetime | None, datetime | None], int] = {}
    tests: list[tuple[RuleSpec, tuple[Check, ...]]] = []
    steps = []
    for rule in sorted(rules, key=_order_key):
        key = (rule.conditions, rule.active_from, rule.active_until)
        if key not in index:
            index[key] = len(tests)
            tests.append((rule, _checks(rule)))
        test = index[key]
        zh, en = _texts(rule)
        limited = not (rule.cap_per_order is None and rule.cap_per_member_day is None)
        limited = limited or rule.budget is not None
        steps.append(_Step(rule, rule.kind, test, tests[test][0].conditions, zh, en, limited))
    return _Plan(tuple(steps), tuple(tests))


def _texts(rule: RuleSpec) -> tuple[str, str]:
    """The explanation of a rule's award up to its points, in Chinese and English."""
    name_en = rule.name_en or rule.name
    if rule.kind == "multiplier":
        f = factor_text(rule.factor)
        return f"{rule.name} ×{f}: +", f"{name_en} ×{f}: +"
    if rule.kind == "per_amount":
        per = yuan(rule.per_amount)
        return (
            f"{rule.name}：每 ¥{per} 加 {rule.points} 分: +",
            f"{name_en}: {rule.points} pt per ¥{per}: +",
        )
    return f"{rule.name}: +", f"{name_en}: +"  # a bonus (a base rate is explained per order)


def _checks(rule: RuleSpec) -> tuple[Check, ...]:
    """The tests ``rule``'s conditions call for (an empty condition is no test)."""
    c = rule.conditions
    wanted: list[tuple[bool, Check]] = [
        (rule.active_from is not None or rule.active_until is not None, _scheduled),
        (bool(c.weekdays or c.date_from or c.date_to or c.time_from or c.time_to), _when),
        (
            bool(c.stores or c.store_groups or c.channels or c.payment_methods)
            or c.min_amount is not None,
            _where,
        ),
        (
            bool(c.tiers or c.segments or c.birthday) or c.first_order is not None,
            _who,
        ),
        (c.filters_lines, _what),
    ]
    return tuple(check for needed, check in wanted if needed)


def _scheduled(rule: RuleSpec, ctx: _Context) -> bool:
    at = ctx.order.occurred_at
    return (rule.active_from is None or at >= rule.active_from) and (
        rule.active_until is None or at < rule.active_until
    )


def _when(rule: RuleSpec, ctx: _Context) -> bool:
    c, day = rule.conditions, ctx.day
    if c.weekdays and ctx.weekday not in c.weekdays:
        return False
    if (c.date_from and day < c.date_from) or (c.date_to and day > c.date_to):
        return False
    if c.time_from is None and c.time_to is None:
        return True
    start, end, now = c.time_from or datetime.min.time(), c.time_to, ctx.local.time()
    if end is None:
        return now >= start
    return start <= now < end if start <= end else (now >= start or now < end)


def _where(rule: RuleSpec, ctx: _Context) -> bool:
    c, o = rule.conditions, ctx.order
    return (
        (not c.stores or o.store_code in c.stores)
        and (not c.store_groups or not c.store_groups.isdisjoint(o.store_groups))
        and (not c.channels or o.channel in c.channels)
        and (not c.payment_methods or o.payment_method in c.payment_methods)
        and (c.min_amount is None or o.amount >= c.min_amount)
    )


def _who(rule: RuleSpec, ctx: _Context) -> bool:
    c, m = rule.conditions, ctx.member
    return (
        (not c.tiers or m.tier_code in c.tiers)
        and (not c.segments or not c.segments.isdisjoint(m.segments))
        and (c.first_order is None or m.first_order == c.first_order)
        and _birthday(c.birthday, m.birthday, ctx.day)
    )


def _birthday(mode: str | None, birthday: date | None, today: date) -> bool:
    if mode is None:
        return True
    if birthday is None or birthday.month != today.month:
        return False
    if mode == "month":
        return True
    if birthday.month == 2 and birthday.day == 29 and not _leap(today.year):
        return today.day == 28
    return birthday.day == today.day


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _what(rule: RuleSpec, ctx: _Context) -> bool:
    c = rule.conditions
    return not c.filters_lines or ctx.line_amount(c) > 0


# --- awards ------------------------------------------------------------------------------------


def _rate(matching: list[_Step], settings: EarnSettings) -> _Rate:
    for step in matching:
        if step.kind == "base_rate":
            return _Rate(step.rule.points, step.rule.per_amount, step)
    return _Rate(settings.points, settings.per_amount, None)


def _base_award(ctx: _Context, rate: _Rate) -> Award:
    points = rate.on(ctx.eligible, ctx.settings.rounding)
    per, amount = yuan(rate.per_amount), yuan(ctx.eligible)
    rule = rate.step.rule if rate.step else None
    name = rule.name if rule else "消费积分"
    name_en = (rule.name_en or rule.name) if rule else "Base points"
    return _award(
        rule,
        "base_rate",
        points,
        f"{name}：消费 ¥{amount}，每 ¥{per} 积 {rate.points} 分: +{points}",
        f"{name_en}: spent ¥{amount}, {rate.points} pt per ¥{per}: +{points}",
    )


def _multiplier_awards(
    ctx: _Context, rate: _Rate, steps: list[_Step]
) -> list[tuple[_Step | None, Award]]:
    """Extra points of multipliers. ``multiply`` rules compound in priority order, ``add``
    rules each add (factor − 1) × base, and of the ``best_of`` rules only the richest counts."""
    out: list[tuple[_Step | None, Award]] = []
    best: tuple[_Step, Award] | None = None
    running = (1, 1)  # the compounded factor so far, as an exact fraction of integers
    rounding = ctx.settings.rounding
    for step in steps:
        factor, stacking = step.rule.factor, step.rule.stacking
        base = rate.on(ctx.line_amount(step.conditions), rounding)
        award = _stepped(step, _extra(base, running if stacking == "multiply" else (1, 1), factor))
        if stacking == "best_of":
            if best is None or award.points > best[1].points:
                best = (step, award)
            continue
        out.append((step, award))
        if stacking == "multiply":
            running = (running[0] * factor.numerator, running[1] * factor.denominator)
    if best is not None:
        out.append(best)
    tier = ctx.member.tier_multiplier
    if tier.numerator > tier.denominator:
        base = rate.on(ctx.eligible, rounding)
        out.append((None, _tier_award(ctx, _extra(base, running, tier))))
    return out


def _extra(base: int, scale: tuple[int, int], factor: Fraction) -> int:
    """base × scale × (factor − 1), rounded down, in integers."""
    num = base * scale[0] * (factor.numerator - factor.denominator)
    return num // (scale[1] * factor.denominator)


def _stepped(step: _Step, points: int) -> Award:
    """A rule's award: its explanation's fixed part (``_texts``) with the points."""
    rule, points = step.rule, max(points, 0)
    return Award(
        step.kind, points, f"{step.zh}{points}", f"{step.en}{points}", rule.id, rule.version
    )


def _tier_award(ctx: _Context, points: int) -> Award:
    m = ctx.member
    f, name = factor_text(m.tier_multiplier), m.tier_name or m.tier_code or ""
    return Award(
        "tier_multiplier", points, f"{name}会员 ×{f}: +{points}", f"{name} member ×{f}: +{points}"
    )


def _fixed_award(ctx: _Context, step: _Step) -> Award:
    rule = step.rule
    if step.kind == "bonus":
        return _stepped(step, rule.points)
    amount = ctx.line_amount(step.conditions)
    return _stepped(step, divide(amount * rule.points, rule.per_amount, "down"))


def _award(rule: RuleSpec | None, kind: str, points: int, zh: str, en: str) -> Award:
    return Award(
        kind, max(points, 0), zh, en, rule.id if rule else None, rule.version if rule else None
    )


def _capped(rule: RuleSpec | None, award: Award, member: MemberSnapshot) -> Award:
    if rule is None or (
        rule.cap_per_order is None and rule.cap_per_member_day is None and rule.budget is None
    ):
        return award
    limits = [rule.cap_per_order]
    if rule.cap_per_member_day is not None:
        limits.append(rule.cap_per_member_day - member.earned_today.get(rule.id or 0, 0))
    if rule.budget is not None:
        limits.append(member.budget_left.get(rule.id or 0, rule.budget))
    cap = min((x for x in limits if x is not None), default=None)
    if cap is None or award.points <= cap:
        return award
    cap = max(cap, 0)
    return Award(
        award.rule,
        cap,
        f"{award.description.rsplit(': +', 1)[0]}: +{cap}（已封顶）",
        f"{award.description_en.rsplit(': +', 1)[0]}: +{cap} (capped)",
        award.rule_id,
        award.rule_version,
    )
