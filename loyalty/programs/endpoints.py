"""``/v1/program``: the program's settings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field, field_validator
from sqlalchemy.orm import Session

from loyalty.api.deps import Admin, IdempotencyKey, Reader, mutate, reading
from loyalty.api.responses import json_response
from loyalty.api.schemas import Input, problems
from loyalty.programs.models import Program
from loyalty.programs.service import get_program
from loyalty.rules.service import touch

router = APIRouter(prefix="/v1/program", tags=["program"])


class ProgramPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    timezone: str | None = Field(default=None, max_length=64)
    point_value: Decimal | None = Field(
        default=None, gt=0, le=1000, max_digits=12, decimal_places=6
    )
    earn_points: int | None = Field(default=None, ge=0, le=10_000)
    earn_per_amount: int | None = Field(default=None, ge=1, le=10**9)
    rounding: Literal["down", "nearest", "up"] | None = None
    expiry_policy: Literal["rolling", "calendar_year", "never"] | None = None
    expiry_days: int | None = Field(default=None, ge=1, le=36500)
    expiry_years: int | None = Field(default=None, ge=0, le=100)
    pending_days: int | None = Field(default=None, ge=0, le=365)
    hold_ttl_seconds: int | None = Field(default=None, ge=10, le=7 * 24 * 3600)
    excluded_categories: list[str] | None = Field(default=None, max_length=200)
    excluded_payment_methods: list[str] | None = Field(default=None, max_length=50)
    tier_downgrade: Literal["requalify", "inactive", "never"] | None = None
    tier_inactive_days: int | None = Field(default=None, ge=1, le=3650)
    tier_protection_days: int | None = Field(default=None, ge=0, le=3650)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and value not in available_timezones():
            raise ValueError("unknown IANA time zone")
        return value


def program_json(p: Program) -> dict[str, Any]:
    fields = (
        "id",
        "code",
        "name",
        "currency",
        "timezone",
        "earn_points",
        "earn_per_amount",
        "rounding",
        "expiry_policy",
        "expiry_days",
        "expiry_years",
        "pending_days",
        "hold_ttl_seconds",
        "excluded_categories",
        "excluded_payment_methods",
        "tier_downgrade",
        "tier_inactive_days",
        "tier_protection_days",
    )
    return {**{f: getattr(p, f) for f in fields}, "point_value": str(p.point_value)}


@router.get("", responses=problems())
def get_settings(request: Request, principal: Reader) -> Response:
    with reading(request) as session:
        return json_response(program_json(get_program(session, principal.program_id)))


@router.patch("", responses=problems())
def patch_settings(
    body: ProgramPatch, request: Request, principal: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """Change settings; they apply to orders posted from now on (history is not rewritten)."""
    changes = body.model_dump(exclude_none=True)

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        for key, value in changes.items():
            setattr(program, key, value)
        ZoneInfo(program.timezone)
        touch(program)
        session.flush()
        return 200, program_json(program)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)
