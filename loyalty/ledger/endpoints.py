"""``/v1/points``: manual adjustments and holds (points used as payment at the till)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt
from sqlalchemy.orm import Session

from loyalty.api.deps import Admin, IdempotencyKey, Till, mutate
from loyalty.api.schemas import ExternalId, Id, Input, Points, Text, Timestamp, problems
from loyalty.ledger.models import Hold
from loyalty.ledger.operations import adjust, capture, hold_points, void
from loyalty.ledger.queries import entry_json
from loyalty.programs.service import get_program

router = APIRouter(prefix="/v1/points", tags=["points"])
HoldId = Annotated[int, Path(ge=1, le=2**62)]


class AdjustmentIn(Input):
    member_id: Id
    points: StrictInt = Field(ge=-1_000_000_000, le=1_000_000_000, description="signed, not zero")
    reason: Text
    expires_at: Timestamp | None = None


class HoldIn(Input):
    member_id: Id
    points: Points
    reference: ExternalId
    ttl_seconds: StrictInt | None = Field(default=None, ge=10, le=7 * 24 * 3600)


class CaptureIn(Input):
    points: int | None = Field(
        default=None, ge=0, le=1_000_000_000, description="part of the hold to spend; default all"
    )


class HoldOut(BaseModel):
    id: int
    member_id: int
    status: str
    points: int
    captured_points: int
    reference: str
    expires_at: datetime


def hold_json(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "member_id": hold.member_id,
        "status": hold.status,
        "points": hold.points,
        "captured_points": hold.captured_points,
        "reference": hold.reference,
        "expires_at": hold.expires_at.isoformat(),
    }


@router.post("/adjustments", status_code=201, responses=problems(404, 409))
def post_adjustment(
    body: AdjustmentIn,
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add or remove points by hand, with a mandatory reason; records who did it."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        entry = adjust(
            session,
            program,
            body.member_id,
            body.points,
            body.reason,
            body.expires_at,
            principal.actor,
            now,
        )
        return 201, entry_json(entry, None)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.post("/holds", status_code=201, response_model=HoldOut, responses=problems(404, 409))
def post_hold(
    body: HoldIn, request: Request, principal: Till, idempotency_key: IdempotencyKey = None
) -> Response:
    """Reserve points for a payment at the till; 409 ``insufficient_points``."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        hold = hold_points(
            session,
            program,
            body.member_id,
            body.points,
            body.reference,
            body.ttl_seconds,
            principal.store_id,
            now,
        )
        return 201, hold_json(hold)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.post("/holds/{hold_id}/capture", response_model=HoldOut, responses=problems(404, 409))
def post_capture(
    hold_id: HoldId,
    request: Request,
    principal: Till,
    body: CaptureIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Spend the hold (or part of it: the rest goes back to the member)."""
    points = body.points if body else None

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 200, hold_json(capture(session, program, hold_id, points, principal.store_id, now))

    return mutate(request, principal, idempotency_key, points, work)


@router.post("/holds/{hold_id}/void", response_model=HoldOut, responses=problems(404, 409))
def post_void(
    hold_id: HoldId, request: Request, principal: Till, idempotency_key: IdempotencyKey = None
) -> Response:
    """Cancel the hold: the points go back with their original expiry."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 200, hold_json(void(session, program, hold_id, principal.store_id, now))

    return mutate(request, principal, idempotency_key, None, work)
