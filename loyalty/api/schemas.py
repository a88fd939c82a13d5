"""Shared field types for request and answer schemas."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
)

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _sane_time(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 2000-01-01 and 2100-01-01")
    return value.astimezone(UTC)


def _sane_date(value: date) -> date:
    if not date(1900, 1, 1) <= value <= date(2100, 1, 1):
        raise ValueError("must be between 1900-01-01 and 2100-01-01")
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(_sane_time)]
Day = Annotated[date, AfterValidator(_sane_date)]
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-.]+$")]
ExternalId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.:/#]+$")]
Amount = Annotated[StrictInt, Field(ge=0, le=100_000_000_000, description="minor units (fen)")]
Points = Annotated[StrictInt, Field(ge=1, le=1_000_000_000)]
Id = Annotated[StrictInt, Field(ge=1, le=2**62)]
Channel = Literal["store", "online", "miniprogram", "partner"]
Text = Annotated[str, Field(min_length=1, max_length=255)]


class Input(BaseModel):
    """Request bodies: integers must be JSON integers (no "100", no 1.5); unknown fields are
    ignored."""

    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        """No control characters (NUL cannot even be stored in PostgreSQL text).

        Asked of every field of every request (a batch's thousand orders, a dozen fields
        each), so it returns at once for what is not text."""
        kind = type(value)
        if kind is str:
            if CONTROL.search(value):
                raise ValueError("must not contain control characters")
        elif kind is list and any(type(t) is str and CONTROL.search(t) for t in value):
            raise ValueError("must not contain control characters")
        return value


class Problem(BaseModel):
    type: str
    title: str
    status: int
    code: str
    detail: str


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem answers an endpoint can give."""
    out: dict[int | str, dict[str, Any]] = {
        s: {"model": Problem, "content": {"application/problem+json": {}}} for s in statuses
    }
    for s in (400, 401, 403, 404, 409, 413, 422):
        out.setdefault(s, {"model": Problem, "content": {"application/problem+json": {}}})
    return out
