"""``/v1/tiers`` and a member's tier progress."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy.orm import Session

from loyalty.api.deps import Admin, IdempotencyKey, Reader, mutate, now_factory, reading
from loyalty.api.responses import json_response
from loyalty.api.schemas import Code, Input, problems
from loyalty.members.service import get_member
from loyalty.programs.service import get_program
from loyalty.tiers.service import (
    delete_tier,
    history,
    program_tiers,
    progress,
    save_tier,
    tier_json,
)

router = APIRouter(tags=["tiers"])


class TierIn(Input):
    """A level: qualify with ``metric`` >= ``threshold`` over the last ``window_days``."""

    name: str = Field(min_length=1, max_length=40, examples=["银卡"])
    name_en: str | None = Field(default=None, max_length=40, examples=["Silver"])
    rank: int = Field(ge=1, le=100, description="1 = lowest above the base tier")
    metric: Literal["spend", "points", "orders"] = "spend"
    threshold: int = Field(ge=0, le=10**12, description="fen for spend", examples=[200000])
    window_days: int = Field(ge=1, le=3650, examples=[30])
    multiplier: str = Field(default="1", max_length=12, examples=["1.2"])
    discount_rate: str | None = Field(default=None, max_length=12, examples=["0.95"])
    perks: list[str] = Field(default_factory=list, max_length=20)


@router.put("/v1/tiers/{code}", responses=problems())
def put_tier(
    code: Annotated[Code, Path()],
    body: TierIn,
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Create or replace a tier. Members are upgraded at their next order, and the ``tiers``
    job re-evaluates everyone."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        save_tier(session, program, {"code": code, **body.model_dump()}, now)
        session.flush()
        tier = next(t for t in program_tiers(session, program) if t.code == code)
        return 200, tier_json(tier)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.delete("/v1/tiers/{code}", responses=problems(404))
def remove_tier(
    code: Annotated[Code, Path()],
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Delete a tier. Refused with 409 ``tier_is_base`` for the base tier, ``tier_in_use``
    while members hold it (``members``: how many), ``tier_in_use_by_rules`` while earning
    rules name it (``rules``) and ``tier_in_use_by_rewards`` while points-mall rewards are
    shown to it (``rewards``). Members' tier history keeps the code."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 200, {**tier_json(delete_tier(session, program, code)), "deleted": True}

    return mutate(request, principal, idempotency_key, ["delete", code], work)


@router.get("/v1/tiers", responses=problems())
def get_tiers(request: Request, principal: Reader) -> Response:
    """The ladder, base tier first."""
    with reading(request) as session:
        program = get_program(session, principal.program_id)
        return json_response([tier_json(t) for t in program_tiers(session, program)])


@router.get("/v1/members/{member_id}/tier", responses=problems())
def get_member_tier(
    request: Request, principal: Reader, member_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    """The member's tier, benefits, progress to the next ("再消费 ¥320 升级金卡") and
    history."""
    with reading(request) as session:
        program = get_program(session, principal.program_id)
        member = get_member(session, principal.program_id, member_id)
        out = progress(session, program, member, now_factory(request)())
        out["history"] = [
            {
                "from": h.from_code,
                "to": h.to_code,
                "reason": h.reason,
                "changed_at": h.changed_at.isoformat(),
            }
            for h in history(session, member.id)
        ]
        return json_response(out)
