"""The rule form: what an operator types, turned into a rule definition and checked by the real
``parse_rule``, with one message per field in the reader's language.

Amounts are typed in yuan and stored in fen; times are the program's local time. Lists are
checkboxes (days, stores, groups, channels, tiers) or typed, separated by commas or spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from loyalty.money import yuan
from loyalty.rules.models import Rule
from loyalty.rules.spec import InvalidRuleError, RuleSpec, parse_rule
from loyalty.web.i18n import N_, Gettext

SCALARS = (
    "name",
    "name_en",
    "kind",
    "factor",
    "points",
    "per_yuan",
    "stacking",
    "priority",
    "cap_per_order",
    "cap_per_member_day",
    "budget",
    "date_from",
    "date_to",
    "time_from",
    "time_to",
    "birthday",
    "first_order",
    "min_yuan",
    "active_from",
    "active_until",
)
TYPED_LISTS = ("categories", "skus", "tags", "payment_methods", "segments")
CHECKED_LISTS = ("weekdays", "stores", "store_groups", "channels", "tiers")
FIELDS = (*SCALARS, *TYPED_LISTS, *CHECKED_LISTS)
MAX_POINTS = 10**9
MAX_CAP = 10**12
SEPARATORS = re.compile(r"[\s,，、;；]+")

NEW_RULE: dict[str, Any] = {
    **dict.fromkeys(FIELDS, ""),
    **{name: [] for name in CHECKED_LISTS},
    "kind": "multiplier",
    "factor": "2",
    "per_yuan": "1",
    "stacking": "multiply",
    "priority": "100",
    "status": "enabled",
}

# What ``parse_rule`` objects to, said for the operator (its own words are for API callers).
RULE_MESSAGES = {
    "name": N_("Give the rule a name (1 to 80 characters)"),
    "kind": N_("Choose what the rule gives"),
    "factor": N_("The multiple must be above 1 and at most 100, e.g. 2 for double points"),
    "points": N_("Enter the points, a whole number above 0"),
    "per_yuan": N_("Enter the amount spent per award, above ¥0"),
    "stacking": N_("Choose how the rule combines with others"),
    "date_from": N_("The first day is after the last day"),
    "active_until": N_("The rule would end before it starts"),
    "categories": N_(
        "A base rate applies to the whole order; use a multiplier for categories, SKUs or line tags"
    ),
    "weekdays": N_("Choose days from Monday to Sunday"),
    "birthday": N_("Choose the birthday day or month"),
}


@dataclass
class RuleForm:
    """The typed values (to show again), their errors, and the rule they make when valid."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    definition: dict[str, Any] = field(default_factory=dict)
    active_from: datetime | None = None
    active_until: datetime | None = None
    spec: RuleSpec | None = None

    @property
    def ok(self) -> bool:
        """Whether the rule can be saved (``spec`` alone is a preview, even with errors)."""
        return not self.errors and self.spec is not None

    @property
    def status(self) -> str:
        return "enabled" if self.values.get("status") == "enabled" else "disabled"

    def new_definition(self) -> dict[str, Any]:
        """The definition to create a rule with: only what was filled in."""
        return {k: v for k, v in self.definition.items() if v is not None}


def form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: str(form.get(name) or "").strip() for name in SCALARS}
    values |= {name: str(form.get(name) or "").strip() for name in TYPED_LISTS}
    values |= {name: [str(v) for v in form.getlist(name)] for name in CHECKED_LISTS}
    values["status"] = "enabled" if form.get("status") == "enabled" else "disabled"
    return values


def read_rule_form(
    values: dict[str, Any], zone: ZoneInfo, _: Gettext, rule_id: int | None = None
) -> RuleForm:
    """Check the form the way saving would: field by field, then the whole rule."""
    reader = FieldReader(values, _)
    out = RuleForm(values)
    out.definition = _definition(reader)
    out.active_from = reader.moment("active_from", zone)
    out.active_until = reader.moment("active_until", zone)
    if not 1 <= len(values["name"]) <= 80:
        reader.fail("name", RULE_MESSAGES["name"])
    out.spec, problems = check_rule(
        {**out.definition, "name": values["name"] or "-"},
        rule_id,
        out.active_from,
        out.active_until,
    )
    for rule_field, detail in problems:
        name = form_field(rule_field)
        message = _(RULE_MESSAGES[name]) if name in RULE_MESSAGES else detail
        reader.errors.setdefault(name, message)
    out.errors = reader.errors
    return out


def check_rule(
    definition: dict[str, Any],
    rule_id: int | None,
    active_from: datetime | None,
    active_until: datetime | None,
) -> tuple[RuleSpec | None, list[tuple[str, str]]]:
    """``parse_rule``'s verdict, and every objection rather than the first: each field it
    refuses is set aside and the rest checked again."""
    problems: list[tuple[str, str]] = []
    schedule = {"active_from": active_from, "active_until": active_until}
    for _attempt in range(12):
        try:
            spec = parse_rule(
                definition,
                id=rule_id,
                active_from=schedule["active_from"],
                active_until=schedule["active_until"],
            )
        except InvalidRuleError as exc:
            field_name = str(exc.extra.get("field") or "name")
            problems.append((field_name, exc.detail))
            definition, schedule = _set_aside(definition, schedule, field_name)
            continue
        return (None if problems else spec), problems
    return None, problems


def _set_aside(
    definition: dict[str, Any], schedule: dict[str, datetime | None], name: str
) -> tuple[dict[str, Any], dict[str, datetime | None]]:
    """The definition without the refused field (a harmless value in its place)."""
    if name in ("active_until", "active_from"):
        return definition, {**schedule, name: None}
    harmless: dict[str, Any] = {"factor": "2", "points": 1, "per_amount": 100, "kind": "bonus"}
    conditions = dict(definition.get("conditions") or {})
    if name == "conditions":
        conditions = {
            k: v for k, v in conditions.items() if k not in ("categories", "skus", "tags")
        }
    elif name.startswith("conditions."):
        conditions.pop(name.removeprefix("conditions."), None)
    out = {**definition, "conditions": conditions}
    if name == "kind":
        out.update(kind="bonus", points=1)
    elif name in harmless:
        out[name] = harmless[name]
    elif not name.startswith("conditions"):
        out.pop(name, None)
    return out, schedule


def form_field(rule_field: str) -> str:
    """The form field that holds a rule definition's field."""
    renamed = {"per_amount": "per_yuan", "conditions.min_amount": "min_yuan"}
    if rule_field in renamed:
        return renamed[rule_field]
    if rule_field == "conditions":
        return "categories"
    return rule_field.removeprefix("conditions.")


def _definition(r: FieldReader) -> dict[str, Any]:
    kind = r.values["kind"]
    out: dict[str, Any] = {
        "name": r.values["name"],
        "name_en": r.values["name_en"] or None,
        "kind": kind,
        "conditions": _conditions(r),
        "stacking": r.values["stacking"] or "multiply",
        "priority": r.integer("priority", -(10**6), 10**6, 100),
        "cap_per_order": r.integer("cap_per_order", 0, MAX_CAP),
        "cap_per_member_day": r.integer("cap_per_member_day", 0, MAX_CAP),
        "budget": r.integer("budget", 0, MAX_CAP),
    }
    if kind == "multiplier":
        out["factor"] = r.values["factor"]
    if kind in ("bonus", "per_amount", "base_rate"):
        out["points"] = r.integer("points", 1, MAX_POINTS, 0)
    if kind in ("per_amount", "base_rate"):
        out["per_amount"] = r.fen("per_yuan", positive=True) or 100
    return out


def _conditions(r: FieldReader) -> dict[str, Any]:
    found: dict[str, Any] = {
        "weekdays": r.weekdays(),
        "date_from": r.day("date_from"),
        "date_to": r.day("date_to"),
        "time_from": r.clock("time_from"),
        "time_to": r.clock("time_to"),
        **{name: r.typed_list(name) for name in TYPED_LISTS},
        **{name: list(dict.fromkeys(r.values[name])) for name in CHECKED_LISTS[1:]},
        "birthday": r.values["birthday"] or None,
        "first_order": {"yes": True, "no": False}.get(r.values["first_order"]),
        "min_amount": r.fen("min_yuan"),
    }
    return {k: v for k, v in found.items() if v not in (None, [], "")}


class FieldReader:
    """Reads typed text as numbers, days and times, noting a message for each bad field."""

    def __init__(self, values: dict[str, Any], gettext: Gettext) -> None:
        self.values, self._ = values, gettext
        self.errors: dict[str, str] = {}

    def fail(self, name: str, message: str, **values: Any) -> None:
        self.errors.setdefault(name, self._(message, **values))

    def integer(self, name: str, lo: int, hi: int, default: int | None = None) -> int | None:
        raw = self.values[name].replace(",", "")
        if raw == "":
            return default
        if not re.fullmatch(r"-?\d{1,13}", raw) or not lo <= int(raw) <= hi:
            self.fail(name, N_("Enter a whole number from %(lo)s to %(hi)s"), lo=lo, hi=hi)
            return default
        return int(raw)

    def fen(self, name: str, positive: bool = False) -> int | None:
        """Yuan as typed (``12.5``) in fen (``1250``)."""
        raw = self.values[name].replace(",", "").removeprefix("¥")
        if raw == "":
            return None
        try:
            amount = Decimal(raw)
            exact = amount.is_finite() and amount == amount.quantize(Decimal("0.01"))
        except InvalidOperation:
            amount, exact = Decimal(0), False
        fen = int(amount * 100)
        if not exact or fen < 0 or (positive and fen == 0) or fen > MAX_CAP:
            self.fail(name, N_("Enter an amount in yuan, e.g. 12.50"))
            return None
        return fen

    def day(self, name: str) -> str | None:
        raw = self.values[name]
        try:
            return date.fromisoformat(raw).isoformat() if raw else None
        except ValueError:
            self.fail(name, N_("Enter a date such as 2026-03-04"))
            return None

    def clock(self, name: str) -> str | None:
        raw = self.values[name]
        try:
            return time.fromisoformat(raw).strftime("%H:%M") if raw else None
        except ValueError:
            self.fail(name, N_("Enter a time such as 14:30"))
            return None

    def moment(self, name: str, zone: ZoneInfo) -> datetime | None:
        raw = self.values[name]
        try:
            return datetime.fromisoformat(raw).replace(tzinfo=zone) if raw else None
        except ValueError:
            self.fail(name, N_("Enter a date and time such as 2026-03-04 10:00"))
            return None

    def weekdays(self) -> list[int]:
        days = self.values["weekdays"]
        if any(d not in "1234567" or len(d) != 1 for d in days):
            self.fail("weekdays", RULE_MESSAGES["weekdays"])
            return []
        return sorted({int(d) for d in days})

    def typed_list(self, name: str) -> list[str]:
        return list(dict.fromkeys(x for x in SEPARATORS.split(self.values[name]) if x))


def values_of(rule: Rule, zone: ZoneInfo) -> dict[str, Any]:
    """A saved rule as the form shows it."""
    d, c = rule.definition, rule.definition.get("conditions") or {}
    first = {True: "yes", False: "no", None: ""}[c.get("first_order")]
    return {
        **NEW_RULE,
        **{k: _text(d.get(k)) for k in ("name", "name_en", "kind", "stacking", "priority")},
        **{k: _text(d.get(k)) for k in ("points", "cap_per_order", "cap_per_member_day")},
        "budget": _text(d.get("budget")),
        "factor": _text(d.get("factor")) if d.get("kind") == "multiplier" else "2",
        "per_yuan": yuan(d.get("per_amount") or 100),
        **{k: _text(c.get(k)) for k in ("date_from", "date_to", "time_from", "time_to")},
        **{k: " ".join(c.get(k) or ()) for k in TYPED_LISTS},
        **{k: [str(x) for x in c.get(k) or ()] for k in CHECKED_LISTS},
        "birthday": c.get("birthday") or "",
        "first_order": first,
        "min_yuan": yuan(c["min_amount"]) if c.get("min_amount") is not None else "",
        "active_from": _local(rule.active_from, zone),
        "active_until": _local(rule.active_until, zone),
        "status": rule.status,
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value else ""
