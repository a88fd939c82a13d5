"""API shapes of lotteries, prizes and draws."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt, model_validator

from loyalty.api.schemas import Amount, Code, ExternalId, Id, Input, Points, Text, Timestamp
from loyalty.lotteries.setup import PrizeSpec

Name = Annotated[str, Field(min_length=1, max_length=120)]
Status = Literal["draft", "active", "paused", "ended"]
Cost = Annotated[StrictInt, Field(ge=0, le=1_000_000_000, description="points per draw")]
DailyLimit = Annotated[StrictInt, Field(ge=1, le=1000, description="draws per member per day")]


class LotteryIn(Input):
    """Draws cost ``cost_points`` and are accepted in [starts_at, ends_at) while ``active``;
    ``daily_limit`` draws per member per local day (none: no limit)."""

    name: Name = Field(examples=["积分抽奖"])
    name_en: Name | None = None
    cost_points: Cost = Field(examples=[100])
    starts_at: Timestamp
    ends_at: Timestamp
    daily_limit: DailyLimit | None = Field(default=None, examples=[3])
    status: Status = "active"

    @model_validator(mode="after")
    def _window(self) -> LotteryIn:
        if self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        return self


class LotteryPatch(Input):
    name: Name | None = None
    name_en: Name | None = None
    cost_points: Cost | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    daily_limit: DailyLimit | None = None
    status: Status | None = None


class PrizeIn(Input):
    """``points`` (``points`` credited), ``coupon`` (a coupon of ``template_id``), ``gift``
    (handed over later) or ``nothing``; odds ``weight`` out of the weights in stock."""

    name: Name = Field(examples=["100 积分"])
    kind: Literal["points", "coupon", "gift", "nothing"]
    points: Points | None = None
    template_id: Id | None = None
    description: Text | None = None
    weight: StrictInt = Field(ge=1, le=1_000_000_000, examples=[10])
    stock: StrictInt | None = Field(default=None, ge=0, le=1_000_000_000, description="left")
    unit_cost: Amount | None = Field(default=None, description="fen, for the report")

    @model_validator(mode="after")
    def _kind_fields(self) -> PrizeIn:
        if (self.kind == "points") != (self.points is not None):
            raise ValueError("points is required for, and only for, a points prize")
        if (self.kind == "coupon") != (self.template_id is not None):
            raise ValueError("template_id is required for, and only for, a coupon prize")
        return self

    def spec(self) -> PrizeSpec:
        return PrizeSpec(**self.model_dump())


class PrizesIn(Input):
    prizes: list[PrizeIn] = Field(min_length=1, max_length=50)


class DrawIn(Input):
    draw_id: ExternalId = Field(description="a retry with the same id gets the same draw")
    member_id: Id
    store_code: Code | None = None


class PrizeOut(BaseModel):
    id: int
    name: str
    kind: str
    points: int | None
    template_id: int | None
    description: str | None
    weight: int
    stock: int | None
    given: int
    remaining: int | None
    unit_cost: int | None
    odds: float


class LotteryOut(BaseModel):
    id: int
    name: str
    name_en: str | None
    cost_points: int
    starts_at: datetime
    ends_at: datetime
    daily_limit: int | None
    status: str
    prizes: list[PrizeOut]
    created_at: datetime
    updated_at: datetime


class LotteryPageOut(BaseModel):
    items: list[LotteryOut]
    next_cursor: str | None


class WonOut(BaseModel):
    id: int
    name: str
    kind: str
    points: int
    coupon_code: str | None
    description: str | None


class MemberPointsOut(BaseModel):
    available: int
    pending: int


class DrawOut(BaseModel):
    draw_id: str
    lottery_id: int
    member_id: int
    cost_points: int
    prize: WonOut
    random_value: int
    total_weight: int
    drawn_at: datetime
    member_points: MemberPointsOut


class AuditOut(BaseModel):
    id: int
    draw_id: str
    lottery_id: int
    member_id: int
    cost_points: int
    prize_id: int
    prize_name: str
    prize_kind: str
    points_won: int
    coupon_code: str | None
    random_value: int
    total_weight: int
    drawn_at: datetime
    handed_over_at: datetime | None


class AuditPageOut(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


class PrizeReportOut(BaseModel):
    prize_id: int
    name: str
    kind: str
    active: bool
    given: int
    points_won: int
    cost_amount: int | None = Field(description="fen; null when unknown")


class LotteryReportRowOut(BaseModel):
    lottery_id: int
    name: str
    draws: int
    points_spent: int
    points_won: int
    prizes: list[PrizeReportOut]
    prize_cost_amount: int
    prize_cost_complete: bool


class LotteryReportOut(BaseModel):
    currency: str
    lotteries: list[LotteryReportRowOut]


def merged(current: dict[str, Any], patch: LotteryPatch) -> dict[str, Any]:
    return {**current, **patch.model_dump(exclude_unset=True)}
