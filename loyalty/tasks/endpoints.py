"""``/v1/tasks``, ``/v1/events`` and ``/v1/referrals``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.api.deps import Admin, IdempotencyKey, Reader, Till, mutate, reading
from loyalty.api.responses import json_response
from loyalty.api.schemas import ExternalId, Id, Input, Timestamp, problems
from loyalty.members.models import Member
from loyalty.members.service import get_member
from loyalty.orders.service import fingerprint
from loyalty.programs.service import get_program
from loyalty.tasks.models import ReferralReward, ReferralSettings, Task
from loyalty.tasks.service import (
    EventRequest,
    list_tasks,
    post_event,
    referral_settings,
    save_task,
)

router = APIRouter(tags=["tasks"])
EventType = Annotated[str, Path(min_length=2, max_length=32, pattern=r"^[a-z][a-z0-9_]+$")]


class TaskIn(Input):
    """``check_in``, ``share``, ``review``, ``profile_completion``, ``registration`` or any
    type of your own."""

    name: str = Field(min_length=1, max_length=80, examples=["每日签到"])
    name_en: str | None = Field(default=None, max_length=80, examples=["Daily check-in"])
    points: int = Field(ge=0, le=10**6)
    daily_limit: int | None = Field(default=None, ge=1, le=1000)
    lifetime_limit: int | None = Field(default=None, ge=1, le=10**6)
    streak_bonuses: dict[int, int] = Field(default_factory=dict, examples=[{"7": 50}])
    status: Literal["enabled", "disabled"] = "enabled"


class EventIn(Input):
    event_id: ExternalId
    member_id: Id
    type: str = Field(min_length=2, max_length=32, pattern=r"^[a-z][a-z0-9_]+$")
    occurred_at: Timestamp


class ReferralIn(Input):
    levels: list[Annotated[int, Field(ge=0, le=10**6)]] = Field(
        min_length=1,
        max_length=5,
        examples=[[100, 30]],
        description="points for the referrer, then their referrer, ...",
    )
    trigger: Literal["registration", "first_order"] = "first_order"
    status: Literal["enabled", "disabled"] = "enabled"


def task_json(t: Task) -> dict[str, Any]:
    return {
        "type": t.type,
        "name": t.name,
        "name_en": t.name_en,
        "points": t.points,
        "daily_limit": t.daily_limit,
        "lifetime_limit": t.lifetime_limit,
        "streak_bonuses": t.streak_bonuses or {},
        "status": t.status,
    }


@router.put("/v1/tasks/{type}", responses=problems())
def put_task(
    type: EventType,
    body: TaskIn,
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Create or replace what an event type earns, with its limits and streak bonuses."""
    data = body.model_dump()
    data["streak_bonuses"] = {str(k): v for k, v in body.streak_bonuses.items() if k > 0 and v >= 0}

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 200, task_json(save_task(session, program, type, data, now))

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.get("/v1/tasks", responses=problems())
def get_tasks(request: Request, principal: Reader) -> Response:
    with reading(request) as session:
        return json_response([task_json(t) for t in list_tasks(session, principal.program_id)])


@router.post("/v1/events", status_code=201, responses=problems())
def post_task_event(
    body: EventIn, request: Request, principal: Till, idempotency_key: IdempotencyKey = None
) -> Response:
    """Reward a check-in, share, review...: exactly once per ``event_id``, within limits."""
    payload = body.model_dump(mode="json")
    req = EventRequest(
        body.event_id, body.member_id, body.type, body.occurred_at, fingerprint(payload)
    )

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 201, post_event(session, program, req, now)

    return mutate(request, principal, idempotency_key, payload, work)


@router.put("/v1/referrals/settings", responses=problems())
def put_referrals(
    body: ReferralIn, request: Request, principal: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """Points per level of the referrer chain, paid on the referee's registration or first
    order; each referee pays each level once."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        settings = referral_settings(session, principal.program_id)
        if settings is None:
            settings = ReferralSettings(program_id=principal.program_id)
            session.add(settings)
        settings.levels, settings.trigger = body.levels, body.trigger
        settings.status, settings.updated_at = body.status, now
        session.flush()
        return 200, body.model_dump()

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.get("/v1/members/{member_id}/referrals", responses=problems())
def get_referrals(
    request: Request, principal: Reader, member_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    """The member's referral code, how many they brought, and the points it earned them."""
    with reading(request) as session:
        member = get_member(session, principal.program_id, member_id)
        referees = session.scalar(select(func.count()).where(Member.referrer_id == member.id))
        earned = session.scalar(
            select(func.coalesce(func.sum(ReferralReward.points), 0)).where(
                ReferralReward.referrer_id == member.id
            )
        )
        return json_response(
            {
                "member_id": member.id,
                "referral_code": member.referral_code,
                "referees": referees or 0,
                "points_earned": int(earned or 0),
            }
        )
