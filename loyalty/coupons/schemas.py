"""API shapes of coupon templates and coupons."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, model_validator

from loyalty.api.schemas import Amount, Code, ExternalId, Id, Input, Text, Timestamp
from loyalty.orders.schemas import LineIn
from loyalty.rules.engine import OrderLine

Money = Annotated[StrictInt, Field(ge=1, le=100_000_000_000, description="fen, at least 1")]
Name = Annotated[str, Field(min_length=1, max_length=120)]
Label = Annotated[str, Field(min_length=1, max_length=64)]


class TemplateIn(Input):
    """``amount_off`` fen off, or ``percent_off`` per cent off (rounded down, at most
    ``max_discount``), once the eligible amount reaches ``min_spend``; valid ``valid_days``
    after issue or in the fixed window [valid_from, valid_until)."""

    name: Name = Field(examples=["满50减10"])
    name_en: Name | None = Field(default=None, examples=["¥10 off orders over ¥50"])
    kind: Literal["amount_off", "percent_off"]
    amount_off: Money | None = Field(default=None, examples=[1000])
    percent_off: StrictInt | None = Field(default=None, ge=1, le=100, examples=[15])
    max_discount: Money | None = None
    min_spend: Amount = Field(default=0, examples=[5000])
    valid_days: StrictInt | None = Field(default=None, ge=1, le=3650, examples=[30])
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    store_codes: list[Code] = Field(default_factory=list, max_length=500)
    store_groups: list[Label] = Field(default_factory=list, max_length=100)
    categories: list[Label] = Field(default_factory=list, max_length=100)
    issue_limit: StrictInt | None = Field(default=None, ge=1, le=1_000_000_000)
    active: StrictBool = True

    @model_validator(mode="after")
    def _consistent(self) -> TemplateIn:
        if self.kind == "amount_off" and (self.amount_off is None or self.percent_off is not None):
            raise ValueError("amount_off needs amount_off (and no percent_off)")
        if self.kind == "percent_off" and (self.percent_off is None or self.amount_off is not None):
            raise ValueError("percent_off needs percent_off (and no amount_off)")
        if self.kind == "amount_off" and self.max_discount is not None:
            raise ValueError("max_discount is for percent_off coupons")
        if (self.valid_days is None) == (self.valid_until is None):
            raise ValueError("give either valid_days or valid_until")
        if self.valid_days is not None and self.valid_from is not None:
            raise ValueError("valid_from goes with valid_until, not valid_days")
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            raise ValueError("valid_from must be before valid_until")
        return self

    def fields(self) -> dict[str, Any]:
        return self.model_dump()


class TemplatePatch(Input):
    """Any field of a template; ``active: false`` deactivates it. The result is validated
    as a whole (send ``amount_off: null`` when switching to ``percent_off``)."""

    name: Name | None = None
    name_en: Name | None = None
    kind: Literal["amount_off", "percent_off"] | None = None
    amount_off: Money | None = None
    percent_off: StrictInt | None = Field(default=None, ge=1, le=100)
    max_discount: Money | None = None
    min_spend: Amount | None = None
    valid_days: StrictInt | None = Field(default=None, ge=1, le=3650)
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    store_codes: list[Code] | None = Field(default=None, max_length=500)
    store_groups: list[Label] | None = Field(default=None, max_length=100)
    categories: list[Label] | None = Field(default=None, max_length=100)
    issue_limit: StrictInt | None = Field(default=None, ge=1, le=1_000_000_000)
    active: StrictBool | None = None


class IssueIn(Input):
    template_id: Id
    member_id: Id
    issue_id: ExternalId = Field(description="the caller's id: a retry gets the same coupon")


class BulkIssueIn(Input):
    """To every active member with tag ``segment``, or to ``member_ids``."""

    template_id: Id
    segment: Label | None = Field(default=None, examples=["high_value"])
    member_ids: list[Id] | None = Field(default=None, min_length=1, max_length=10_000)
    bulk_id: ExternalId | None = Field(default=None, description="kept as the coupons' source")

    @model_validator(mode="after")
    def _one_target(self) -> BulkIssueIn:
        if (self.segment is None) == (self.member_ids is None):
            raise ValueError("give either segment or member_ids")
        return self


class UseIn(Input):
    store_code: Code | None = None
    amount: Amount = Field(examples=[6000])
    lines: list[LineIn] = Field(default_factory=list, max_length=500)

    def order_lines(self) -> tuple[OrderLine, ...]:
        return tuple(
            OrderLine(ln.sku, ln.quantity, ln.amount, ln.category, tuple(ln.tags))
            for ln in self.lines
        )


class RedeemIn(UseIn):
    order_id: ExternalId | None = None


class VoidIn(Input):
    reason: Text | None = None


class TemplateOut(BaseModel):
    id: int
    name: str
    name_en: str | None
    kind: str
    amount_off: int | None
    percent_off: int | None
    max_discount: int | None
    min_spend: int
    valid_days: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    store_codes: list[str]
    store_groups: list[str]
    categories: list[str]
    issue_limit: int | None
    active: bool
    issued_count: int
    remaining: int | None
    created_at: datetime
    updated_at: datetime


class TemplatePageOut(BaseModel):
    items: list[TemplateOut]
    next_cursor: str | None


class SourceOut(BaseModel):
    type: str
    id: str | None


class CouponOut(BaseModel):
    id: int
    code: str
    template_id: int
    member_id: int
    status: str
    name: str | None
    name_en: str | None
    kind: str | None
    amount_off: int | None
    percent_off: int | None
    max_discount: int | None
    min_spend: int
    store_codes: list[str]
    store_groups: list[str]
    categories: list[str]
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime
    source: SourceOut
    used_at: datetime | None
    used_store_code: str | None
    used_order_id: str | None
    used_amount: int | None
    discount: int | None
    voided_at: datetime | None
    void_reason: str | None


class CouponPageOut(BaseModel):
    items: list[CouponOut]
    next_cursor: str | None


class BulkIssueOut(BaseModel):
    template_id: int
    issued: int


class ValidationOut(BaseModel):
    code: str
    applies: bool
    discount: int
    eligible_amount: int
    reason: str | None = Field(description="why not: the code redeem would answer with")
    detail: str | None
    used_at: datetime | None
    used_store_code: str | None


class RedemptionOut(BaseModel):
    code: str
    discount: int
    coupon: CouponOut


class TemplateReportOut(BaseModel):
    template_id: int
    name: str
    name_en: str | None
    issued: int
    used: int
    expired: int
    voided: int
    outstanding: int
    usage_rate: float
    discount_given: int


class CouponTotalsOut(BaseModel):
    issued: int
    used: int
    expired: int
    voided: int
    discount_given: int
    usage_rate: float


class CouponReportOut(BaseModel):
    as_of: datetime
    templates: list[TemplateReportOut]
    totals: CouponTotalsOut
