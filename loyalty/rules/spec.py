"""Rules as plain, frozen data: what the operator configured, validated.

A rule is stored as JSON (``Rule.definition``); ``parse_rule`` turns it into a ``RuleSpec``
or raises ``InvalidRuleError`` with the field at fault. The evaluator reads only ``RuleSpec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from fractions import Fraction
from functools import cached_property
from typing import Any

from loyalty.errors import InvalidRequestError

KINDS = ("base_rate", "multiplier", "bonus", "per_amount")
STACKING = ("multiply", "add", "best_of")
LINE_FILTERS = ("categories", "skus", "tags")


class InvalidRuleError(InvalidRequestError):
    code = "invalid_rule"
    title = "Invalid rule"


@dataclass(frozen=True)
class Conditions:
    """When a rule applies. Empty means "any". Days and times are the program's local time.

    ``categories`` / ``skus`` / ``tags`` narrow the rule to matching order lines (its points
    are computed on those lines' amount); the others decide whether the order qualifies.
    """

    weekdays: frozenset[int] = frozenset()  # ISO: 1 = Monday ... 7 = Sunday
    date_from: date | None = None
    date_to: date | None = None
    time_from: time | None = None
    time_to: time | None = None
    categories: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    stores: frozenset[str] = frozenset()
    store_groups: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()
    payment_methods: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    birthday: str | None = None  # "day" or "month"
    first_order: bool | None = None
    min_amount: int | None = None

    @cached_property
    def filters_lines(self) -> bool:
        return bool(self.categories or self.skus or self.tags)


@dataclass(frozen=True)
class RuleSpec:
    """One earning rule, as the evaluator sees it.

    Kinds: ``base_rate`` (``points`` per ``per_amount`` minor units; the best-priority matching
    one replaces the program's base rate: a store group's own rate), ``multiplier`` (extra
    base points × (``factor`` − 1)), ``bonus`` (fixed ``points``), ``per_amount`` (extra
    ``points`` per ``per_amount`` spent). Lower ``priority`` applies first.
    """

    name: str
    kind: str
    conditions: Conditions = field(default_factory=Conditions)
    id: int | None = None
    version: int = 1
    name_en: str | None = None
    points: int = 0
    per_amount: int = 100
    factor: Fraction = Fraction(1)
    stacking: str = "multiply"
    priority: int = 100
    cap_per_order: int | None = None
    cap_per_member_day: int | None = None
    budget: int | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None


def parse_rule(
    data: dict[str, Any],
    *,
    id: int | None = None,
    version: int = 1,
    active_from: datetime | None = None,
    active_until: datetime | None = None,
) -> RuleSpec:
    """Validate an operator's rule definition; 422 ``invalid_rule`` names what is wrong."""
    kind = _choice(data, "kind", KINDS)
    spec = RuleSpec(
        id=id,
        version=version,
        name=_text(data, "name"),
        name_en=data.get("name_en"),
        kind=kind,
        conditions=parse_conditions(data.get("conditions") or {}),
        points=_int(data, "points", 0, 0, 10**9),
        per_amount=_int(data, "per_amount", 100, 1, 10**9),
        factor=_factor(data.get("factor", "1")),
        stacking=_choice(data, "stacking", STACKING, "multiply"),
        priority=_int(data, "priority", 100, -(10**6), 10**6),
        cap_per_order=_opt_int(data, "cap_per_order"),
        cap_per_member_day=_opt_int(data, "cap_per_member_day"),
        budget=_opt_int(data, "budget"),
        active_from=active_from,
        active_until=active_until,
    )
    _check_kind(spec)
    return spec


def _check_kind(spec: RuleSpec) -> None:
    if spec.kind == "multiplier" and not Fraction(1) < spec.factor <= 100:
        raise InvalidRuleError("a multiplier needs 1 < factor <= 100", field="factor")
    if spec.kind in ("bonus", "base_rate", "per_amount") and spec.points <= 0:
        raise InvalidRuleError(f"a {spec.kind} rule needs points > 0", field="points")
    c = spec.conditions
    if c.date_from and c.date_to and c.date_from > c.date_to:
        raise InvalidRuleError("date_from is after date_to", field="conditions.date_from")
    if spec.active_from and spec.active_until and spec.active_from >= spec.active_until:
        raise InvalidRuleError("the schedule ends before it starts", field="active_until")
    if spec.kind == "base_rate" and c.filters_lines:
        raise InvalidRuleError(
            "a base rate applies to the whole order; use a multiplier for categories, SKUs or tags",
            field="conditions",
        )


def parse_conditions(data: dict[str, Any]) -> Conditions:
    if not isinstance(data, dict):
        raise InvalidRuleError("conditions must be an object", field="conditions")
    unknown = set(data) - set(Conditions.__dataclass_fields__)
    if unknown:
        raise InvalidRuleError(f"unknown condition {sorted(unknown)[0]!r}", field="conditions")
    weekdays = _set(data, "weekdays")
    if any(not isinstance(d, int) or not 1 <= d <= 7 for d in weekdays):
        raise InvalidRuleError("weekdays are 1 (Monday) to 7 (Sunday)", field="conditions.weekdays")
    birthday = data.get("birthday")
    if birthday not in (None, "day", "month"):
        raise InvalidRuleError("birthday is 'day' or 'month'", field="conditions.birthday")
    return Conditions(
        weekdays=frozenset(weekdays),
        date_from=_date(data, "date_from"),
        date_to=_date(data, "date_to"),
        time_from=_time(data, "time_from"),
        time_to=_time(data, "time_to"),
        **{
            name: frozenset(_strings(data, name))
            for name in (
                "categories",
                "skus",
                "tags",
                "stores",
                "store_groups",
                "channels",
                "tiers",
                "payment_methods",
                "segments",
            )
        },
        birthday=birthday,
        first_order=_opt_bool(data, "first_order"),
        min_amount=_opt_int(data, "min_amount", where="conditions."),
    )


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 80:
        raise InvalidRuleError(f"{name} must be 1 to 80 characters", field=name)
    return value.strip()


def _choice(
    data: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None
) -> str:
    value = data.get(name, default)
    if value not in allowed:
        raise InvalidRuleError(f"{name} must be one of {', '.join(allowed)}", field=name)
    return str(value)


def _int(data: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidRuleError(f"{name} must be an integer from {lo} to {hi}", field=name)
    return value


def _opt_int(data: dict[str, Any], name: str, where: str = "") -> int | None:
    if data.get(name) is None:
        return None
    return _int(data, name, 0, 0, 10**12) if not where else _checked(data, name, where)


def _checked(data: dict[str, Any], name: str, where: str) -> int:
    try:
        return _int(data, name, 0, 0, 10**12)
    except InvalidRuleError as exc:
        raise InvalidRuleError(exc.detail, field=where + name) from exc


def _opt_bool(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRuleError(f"{name} must be true or false", field=f"conditions.{name}")
    return value


def _factor(raw: Any) -> Fraction:
    try:
        if isinstance(raw, (bool, float)):
            raise ValueError(raw)
        return Fraction(str(raw))
    except (ValueError, ZeroDivisionError) as exc:
        raise InvalidRuleError(
            'factor must be a number written as a string or integer, e.g. "1.5"', field="factor"
        ) from exc


def _set(data: dict[str, Any], name: str) -> list[Any]:
    value = data.get(name) or []
    if not isinstance(value, list) or len(value) > 500:
        raise InvalidRuleError(f"{name} must be a list", field=f"conditions.{name}")
    return value


def _strings(data: dict[str, Any], name: str) -> list[str]:
    values = _set(data, name)
    if any(not isinstance(v, str) or not 0 < len(v) <= 64 for v in values):
        raise InvalidRuleError(
            f"{name} must be a list of short strings", field=f"conditions.{name}"
        )
    return values


def _date(data: dict[str, Any], name: str) -> date | None:
    value = data.get(name)
    try:
        return date.fromisoformat(value) if value is not None else None
    except (TypeError, ValueError) as exc:
        raise InvalidRuleError(f"{name} must be YYYY-MM-DD", field=f"conditions.{name}") from exc


def _time(data: dict[str, Any], name: str) -> time | None:
    value = data.get(name)
    try:
        return time.fromisoformat(value) if value is not None else None
    except (TypeError, ValueError) as exc:
        raise InvalidRuleError(f"{name} must be HH:MM", field=f"conditions.{name}") from exc
