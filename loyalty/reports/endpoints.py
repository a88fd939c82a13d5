"""``/v1/reports``."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel

from loyalty.api.deps import Analyst, reading
from loyalty.api.responses import json_response
from loyalty.api.schemas import EARLIEST, LATEST, problems
from loyalty.errors import InvalidRequestError
from loyalty.ledger.queries import points_summary
from loyalty.programs.service import get_program

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class PointsSummaryOut(BaseModel):
    issued: int
    redeemed: int
    expired: int
    adjusted: int
    reversed: int
    outstanding: int
    liability_amount: int
    currency: str
    point_value: str
    redemption_rate: float
    breakage_rate: float


class InvalidPeriodError(InvalidRequestError):
    code = "invalid_period"
    title = "Invalid period"


@router.get("/points-summary", response_model=PointsSummaryOut, responses=problems())
def get_points_summary(
    request: Request,
    principal: Analyst,
    from_: Annotated[AwareDatetime, Query(alias="from")],
    to: Annotated[AwareDatetime, Query()],
) -> Response:
    """Points issued, redeemed, expired and adjusted in [from, to); outstanding and liability
    at ``to`` (in minor units at the program's point value); redemption and breakage rates."""
    start, end = from_.astimezone(UTC), to.astimezone(UTC)
    if not EARLIEST <= start < end <= LATEST:
        raise InvalidPeriodError("need 2000-01-01 <= from < to <= 2100-01-01")
    with reading(request) as session:
        program = get_program(session, principal.program_id)
        return json_response(points_summary(session, program, start, end))
