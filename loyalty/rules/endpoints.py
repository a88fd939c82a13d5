"""``/v1/rules``: earning rules as data, versioned, simulated and back-tested."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from loyalty.api.deps import Admin, Analyst, IdempotencyKey, mutate, reading
from loyalty.api.responses import json_response
from loyalty.api.schemas import Input, Timestamp, problems
from loyalty.errors import InvalidRequestError
from loyalty.programs.service import get_program
from loyalty.rules.backtest import backtest
from loyalty.rules.service import (
    create_rule,
    get_rule,
    list_rules,
    rule_json,
    spec_of,
    update_rule,
    versions,
)
from loyalty.rules.spec import parse_rule

router = APIRouter(prefix="/v1/rules", tags=["rules"])
RuleId = Annotated[int, Path(ge=1, le=2**62)]
SCHEDULE = ("status", "active_from", "active_until")
Factor = Annotated[str, Field(max_length=12)] | Annotated[int, Field(ge=1, le=100)]


class RuleDefinition(Input):
    """A rule. ``kind``: ``base_rate`` | ``multiplier`` | ``bonus`` | ``per_amount``.
    ``conditions`` (all optional): ``weekdays`` [1-7], ``date_from``/``date_to``,
    ``time_from``/``time_to`` (local), ``categories``, ``skus``, ``tags``, ``stores``,
    ``store_groups``, ``channels``, ``tiers``, ``payment_methods``, ``segments``,
    ``birthday`` (``day``|``month``), ``first_order``, ``min_amount``."""

    name: str = Field(min_length=1, max_length=80, examples=["周三双倍积分"])
    name_en: str | None = Field(default=None, max_length=80)
    kind: str = Field(examples=["multiplier"])
    conditions: dict[str, Any] = Field(default_factory=dict, examples=[{"weekdays": [3]}])
    points: int | None = Field(default=None, ge=0, le=10**9)
    per_amount: int | None = Field(default=None, ge=1, le=10**9)
    factor: Factor | None = Field(default=None, examples=["2"])
    stacking: Literal["multiply", "add", "best_of"] | None = None
    priority: int | None = Field(default=None, ge=-(10**6), le=10**6)
    cap_per_order: int | None = Field(default=None, ge=0, le=10**12)
    cap_per_member_day: int | None = Field(default=None, ge=0, le=10**12)
    budget: int | None = Field(default=None, ge=0, le=10**12)


class RuleIn(RuleDefinition):
    status: Literal["enabled", "disabled"] = "disabled"
    active_from: Timestamp | None = None
    active_until: Timestamp | None = None


class RulePatch(Input):
    """Any subset of a rule's fields; the result is validated as a whole and becomes a new
    version."""

    name: str | None = Field(default=None, min_length=1, max_length=80)
    name_en: str | None = Field(default=None, max_length=80)
    conditions: dict[str, Any] | None = None
    points: int | None = Field(default=None, ge=0, le=10**9)
    per_amount: int | None = Field(default=None, ge=1, le=10**9)
    factor: Factor | None = None
    stacking: Literal["multiply", "add", "best_of"] | None = None
    priority: int | None = Field(default=None, ge=-(10**6), le=10**6)
    cap_per_order: int | None = Field(default=None, ge=0, le=10**12)
    cap_per_member_day: int | None = Field(default=None, ge=0, le=10**12)
    budget: int | None = Field(default=None, ge=0, le=10**12)
    status: Literal["enabled", "disabled"] | None = None
    active_from: Timestamp | None = None
    active_until: Timestamp | None = None


class Period(Input):
    from_: Timestamp = Field(alias="from")
    to: Timestamp


class DraftBacktest(Period):
    rule: RuleDefinition


class RuleOut(BaseModel):
    id: int
    name: str
    kind: str
    status: str
    version: int
    definition: dict[str, Any]
    active_from: datetime | None
    active_until: datetime | None
    budget_used: int
    created_at: datetime
    updated_at: datetime


class BacktestOut(BaseModel):
    rule: dict[str, Any]
    orders_scanned: int
    orders_affected: int
    extra_points: int
    cost_amount: int
    currency: str
    members_affected: int
    by_store: list[dict[str, Any]]
    by_day: list[dict[str, Any]]
    elapsed_ms: int


def _definition(body: RuleDefinition) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_none=True, exclude=set(SCHEDULE))


@router.post("", status_code=201, response_model=RuleOut, responses=problems())
def post_rule(
    body: RuleIn, request: Request, principal: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create a rule (disabled unless ``status`` says ``enabled``); 422 ``invalid_rule``."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        rule = create_rule(
            session,
            program,
            _definition(body),
            status=body.status,
            active_from=body.active_from,
            active_until=body.active_until,
            actor=principal.actor,
            now=now,
        )
        return 201, rule_json(rule)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.get("", response_model=list[RuleOut], responses=problems())
def get_rules(
    request: Request,
    principal: Analyst,
    status: Annotated[Literal["enabled", "disabled"] | None, Query()] = None,
) -> Response:
    with reading(request) as session:
        return json_response(
            [rule_json(r) for r in list_rules(session, principal.program_id, status)]
        )


@router.get("/{rule_id}", response_model=RuleOut, responses=problems())
def get_one_rule(request: Request, principal: Analyst, rule_id: RuleId) -> Response:
    with reading(request) as session:
        return json_response(rule_json(get_rule(session, principal.program_id, rule_id)))


@router.get("/{rule_id}/versions", responses=problems())
def get_versions(request: Request, principal: Analyst, rule_id: RuleId) -> Response:
    """Every version of the rule, oldest first, with who made it."""
    with reading(request) as session:
        get_rule(session, principal.program_id, rule_id)
        return json_response(
            [
                {
                    "version": v.version,
                    "definition": v.definition,
                    "status": v.status,
                    "active_from": v.active_from.isoformat() if v.active_from else None,
                    "active_until": v.active_until.isoformat() if v.active_until else None,
                    "actor": v.actor,
                    "created_at": v.created_at.isoformat(),
                }
                for v in versions(session, rule_id)
            ]
        )


@router.patch("/{rule_id}", response_model=RuleOut, responses=problems())
def patch_rule(
    rule_id: RuleId,
    body: RulePatch,
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change a rule: a new version; entries already written keep naming the old one."""
    sent = body.model_dump(mode="json", exclude_unset=True)
    changes: dict[str, Any] = {k: getattr(body, k) for k in SCHEDULE if k in sent}
    changes["definition"] = {k: v for k, v in sent.items() if k not in SCHEDULE}
    return _change(request, principal, rule_id, changes, idempotency_key, sent)


@router.post("/{rule_id}/enable", response_model=RuleOut, responses=problems())
def enable_rule(request: Request, principal: Admin, rule_id: RuleId) -> Response:
    return _change(request, principal, rule_id, {"status": "enabled"}, None, "enable")


@router.post("/{rule_id}/disable", response_model=RuleOut, responses=problems())
def disable_rule(request: Request, principal: Admin, rule_id: RuleId) -> Response:
    return _change(request, principal, rule_id, {"status": "disabled"}, None, "disable")


def _change(
    request: Request,
    principal: Any,
    rule_id: int,
    changes: dict[str, Any],
    key: str | None,
    identity: Any,
) -> Response:
    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 200, rule_json(update_rule(session, program, rule_id, changes, principal.actor, now))

    return mutate(request, principal, key, identity, work)


@router.post("/{rule_id}/backtest", response_model=BacktestOut, responses=problems())
def backtest_rule(rule_id: RuleId, body: Period, request: Request, principal: Analyst) -> Response:
    """What this rule would have cost over a past period of real orders."""
    with reading(request) as session:
        program = get_program(session, principal.program_id)
        spec = spec_of(get_rule(session, principal.program_id, rule_id))
        return json_response(backtest(session, program, spec, *_period(body)))


@router.post("/backtest", response_model=BacktestOut, responses=problems())
def backtest_draft(body: DraftBacktest, request: Request, principal: Analyst) -> Response:
    """The same for a draft rule that is not saved."""
    spec = parse_rule(_definition(body.rule))
    with reading(request) as session:
        program = get_program(session, principal.program_id)
        return json_response(backtest(session, program, spec, *_period(body)))


class InvalidPeriodError(InvalidRequestError):
    code = "invalid_period"
    title = "Invalid period"


def _period(body: Period) -> tuple[datetime, datetime]:
    start, end = body.from_.astimezone(UTC), body.to.astimezone(UTC)
    if start >= end or (end - start).days > 400:
        raise InvalidPeriodError("need from < to, at most 400 days apart")
    return start, end
