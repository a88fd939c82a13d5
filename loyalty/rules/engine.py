"""The earning evaluator: a pure function from an order to explained awards.

``evaluate`` reads only the frozen facts it is given: no database, no clock. That is what
makes simulation, explanation and back-testing free. Rule kinds register in ``RULE_KINDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime


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
    channel: str | None = None
    payment_method: str | None = None
    lines: tuple[OrderLine, ...] = ()


@dataclass(frozen=True)
class MemberSnapshot:
    id: int
    tier_code: str | None = None
    birthday: date | None = None


@dataclass(frozen=True)
class EarnSettings:
    """The program's base rate: ``points`` per ``per_amount`` minor units, and exclusions."""

    points: int = 1
    per_amount: int = 100
    rounding: str = "down"
    currency: str = "CNY"
    excluded_categories: frozenset[str] = frozenset()
    excluded_payment_methods: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Award:
    """Points one rule gives, with the sentence that explains them."""

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
    awards: tuple[Award, ...] = field(default_factory=tuple)

    @property
    def points(self) -> int:
        return sum(a.points for a in self.awards)


Evaluator = Callable[[OrderFacts, MemberSnapshot, EarnSettings], list[Award]]


def divide(numerator: int, denominator: int, rounding: str) -> int:
    """Integer division with the program's rounding; never through float."""
    q, r = divmod(numerator, denominator)
    if r == 0 or rounding == "down":
        return q
    if rounding == "up":
        return q + 1
    return q + 1 if 2 * r >= denominator else q


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}" if fen % 100 else str(fen // 100)


def eligible_amount(order: OrderFacts, settings: EarnSettings) -> int:
    """What earns: nothing paid with an excluded method, nor excluded categories' lines."""
    if order.payment_method and order.payment_method in settings.excluded_payment_methods:
        return 0
    excluded = sum(
        line.amount for line in order.lines if line.category in settings.excluded_categories
    )
    return max(order.amount - excluded, 0)


def base_rate(order: OrderFacts, member: MemberSnapshot, settings: EarnSettings) -> list[Award]:
    amount = eligible_amount(order, settings)
    points = divide(amount * settings.points, settings.per_amount, settings.rounding)
    if points <= 0:
        return []
    per = yuan(settings.per_amount)
    return [
        Award(
            rule="base_rate",
            points=points,
            description=f"消费 ¥{yuan(amount)}，每 ¥{per} 积 {settings.points} 分: +{points}",
            description_en=f"Spent ¥{yuan(amount)}, {settings.points} pt per ¥{per}: +{points}",
        )
    ]


RULE_KINDS: dict[str, Evaluator] = {"base_rate": base_rate}


def evaluate(order: OrderFacts, member: MemberSnapshot, settings: EarnSettings) -> Evaluation:
    """Every award the order earns, in the order the rules apply."""
    awards: list[Award] = []
    for rule in RULE_KINDS.values():
        awards.extend(rule(order, member, settings))
    return Evaluation(tuple(awards))
