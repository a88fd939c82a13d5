"""What a coupon is worth on a basket: a pure function of its terms, the basket and the time.

Nothing here touches the database or the clock, so the same answer serves the preview at the
counter (``validate``), the use (``redeem``) and the tests. A refusal carries a stable
``reason`` (the ``code`` of the error ``redeem`` raises for it) and a sentence for the clerk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loyalty.money import yuan
from loyalty.rules.engine import OrderLine


@dataclass(frozen=True)
class Terms:
    """A template's promise, frozen on each coupon when it is issued."""

    name: str
    kind: str
    min_spend: int = 0
    amount_off: int | None = None
    percent_off: int | None = None
    max_discount: int | None = None
    store_codes: tuple[str, ...] = ()
    store_groups: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    name_en: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Terms:
        lists = ("store_codes", "store_groups", "categories")
        fields: dict[str, Any] = {k: tuple(v) if k in lists else v for k, v in data.items()}
        return cls(**fields)

    def as_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Basket:
    """What the till is about to charge: the amount, its lines, and where."""

    amount: int
    lines: tuple[OrderLine, ...] = ()
    store_code: str | None = None
    store_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assessment:
    """Whether a coupon applies and its discount in fen; if not, why (``reason``)."""

    applies: bool
    discount: int = 0
    eligible_amount: int = 0
    reason: str | None = None
    detail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def refuse(reason: str, detail: str, **extra: Any) -> Assessment:
    return Assessment(False, reason=reason, detail=detail, extra=extra)


def window_problem(valid_from: datetime, valid_until: datetime, now: datetime) -> Assessment | None:
    """A coupon outside [valid_from, valid_until) is refused, whatever the job has done."""
    if now < valid_from:
        return refuse(
            "coupon_not_yet_valid",
            f"valid from {valid_from.isoformat()}",
            valid_from=valid_from.isoformat(),
        )
    if now >= valid_until:
        return refuse(
            "coupon_expired",
            f"expired at {valid_until.isoformat()}",
            valid_until=valid_until.isoformat(),
        )
    return None


def assess(terms: Terms, basket: Basket) -> Assessment:
    """The discount on this basket: never more than the eligible amount; percentages round
    down; refused when the store is not allowed, no item qualifies or the minimum is missed.

    Without a store (a preview on the member's page) the store restriction is not checked.
    """
    if basket.store_code is not None and not store_allowed(terms, basket):
        return refuse(
            "store_not_allowed",
            f"not valid at store {basket.store_code}",
            store_code=basket.store_code,
        )
    eligible = eligible_amount(terms, basket)
    if eligible <= 0:
        return refuse("no_eligible_items", "no item of this order qualifies", eligible_amount=0)
    if eligible < terms.min_spend:
        return refuse(
            "min_spend_not_met",
            f"needs ¥{yuan(terms.min_spend)} of eligible items, order has ¥{yuan(eligible)}",
            min_spend=terms.min_spend,
            eligible_amount=eligible,
        )
    return Assessment(True, discount=discount(terms, eligible), eligible_amount=eligible)


def store_allowed(terms: Terms, basket: Basket) -> bool:
    if not terms.store_codes and not terms.store_groups:
        return True
    in_group = set(terms.store_groups) & set(basket.store_groups)
    return basket.store_code in terms.store_codes or bool(in_group)


def eligible_amount(terms: Terms, basket: Basket) -> int:
    """The whole amount, or (for a coupon limited to categories) the lines in them."""
    if not terms.categories:
        return basket.amount
    wanted = set(terms.categories)
    return min(basket.amount, sum(ln.amount for ln in basket.lines if ln.category in wanted))


def discount(terms: Terms, eligible: int) -> int:
    """Fen off ``eligible``: 15% of ¥123.45 is ¥18.51 (rounded down), capped by the ceiling."""
    if terms.kind == "amount_off":
        return min(terms.amount_off or 0, eligible)
    off = eligible * (terms.percent_off or 0) // 100
    if terms.max_discount is not None:
        off = min(off, terms.max_discount)
    return min(off, eligible)
