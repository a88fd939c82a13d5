"""API shapes of the stored-value wallet."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from loyalty.api.schemas import Amount, Code, ExternalId, Input
from loyalty.orders.schemas import AwardOut, MemberPointsOut

Money = Annotated[
    StrictInt, Field(ge=1, le=100_000_000_000, description="minor units (fen), at least 1")
]


class BonusTierIn(Input):
    """A top-up of at least ``min_amount`` gets ``bonus_points`` and ``bonus_amount``."""

    min_amount: Amount = Field(examples=[100000])
    bonus_points: StrictInt = Field(default=0, ge=0, le=1_000_000_000, examples=[100])
    bonus_amount: Amount = Field(default=0, examples=[0])


class BonusTiersIn(Input):
    tiers: list[BonusTierIn] = Field(max_length=50, description="the best matching one applies")


class TopUpIn(Input):
    top_up_id: ExternalId
    amount: Money = Field(examples=[100000])
    payment_method: str | None = Field(default=None, min_length=1, max_length=32)
    store_code: Code | None = None


class PaymentIn(Input):
    payment_id: ExternalId
    amount: Money = Field(examples=[1000])
    order_id: ExternalId | None = None
    store_code: Code | None = None


class WalletRefundIn(Input):
    refund_id: ExternalId
    amount: Money


class BonusTierOut(BaseModel):
    min_amount: int
    bonus_points: int
    bonus_amount: int


class BonusTiersOut(BaseModel):
    tiers: list[BonusTierOut]


class WalletBalanceOut(BaseModel):
    balance: int
    principal: int
    bonus: int


class TopUpBonusOut(BaseModel):
    amount: int
    points: int
    tier: BonusTierOut | None


class TopUpPointsOut(BaseModel):
    awarded: int
    expires_at: datetime | None


class TopUpOut(BaseModel):
    top_up_id: str
    member_id: int
    amount: int
    payment_method: str | None
    store_code: str | None
    occurred_at: datetime
    bonus: TopUpBonusOut
    points: TopUpPointsOut
    breakdown: list[AwardOut]
    wallet: WalletBalanceOut
    member_points: MemberPointsOut


class PaymentOut(BaseModel):
    payment_id: str
    member_id: int
    amount: int
    principal: int
    bonus: int
    order_id: str | None
    store_code: str | None
    occurred_at: datetime
    wallet: WalletBalanceOut


class WalletRefundOut(BaseModel):
    refund_id: str
    payment_id: str
    member_id: int
    amount: int
    principal: int
    bonus: int
    refundable: int
    occurred_at: datetime
    wallet: WalletBalanceOut


class SourceOut(BaseModel):
    type: str
    id: str | None


class WalletEntryOut(BaseModel):
    id: int
    kind: str
    amount: int
    principal: int
    bonus: int
    balance_after: int
    occurred_at: datetime
    source: SourceOut
    store_code: str | None
    description: str | None
    description_en: str | None
    actor: str | None


class LifetimeOut(BaseModel):
    topped_up: int
    bonus_given: int
    paid: int
    refunded: int


class WalletOut(WalletBalanceOut):
    member_id: int
    currency: str
    lifetime: LifetimeOut
    items: list[WalletEntryOut]
    next_cursor: str | None


class OutstandingOut(BaseModel):
    amount: int
    principal: int
    bonus: int
    wallets: int = Field(description="wallets with money in them")


class FlowOut(BaseModel):
    count: int
    amount: int
    principal: int
    bonus: int


class BonusPointsOut(BaseModel):
    points: int
    point_value: str
    value_amount: int = Field(description="the points at the program's point value, fen")
    redemption_rate: float
    expected_cost_amount: int = Field(description="value_amount x redemption rate, fen")


class StoredValueReportOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    currency: str
    outstanding: OutstandingOut
    outstanding_at_to: int
    top_ups: FlowOut
    bonus_value: int
    payments: FlowOut
    refunds: FlowOut
    bonus_points: BonusPointsOut
