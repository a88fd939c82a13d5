"""API shapes of orders and refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictInt

from loyalty.api.schemas import Amount, Channel, Code, ExternalId, Id, Input, Timestamp
from loyalty.orders.service import OrderRequest, fingerprint
from loyalty.rules.engine import OrderLine

Tag = str


class LineIn(Input):
    sku: str = Field(min_length=1, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    quantity: StrictInt = Field(default=1, ge=1, le=1_000_000)
    amount: Amount
    tags: list[str] = Field(default_factory=list, max_length=20)


class OrderIn(Input):
    order_id: ExternalId
    member_id: Id
    store_code: Code | None = None
    channel: Channel | None = None
    occurred_at: Timestamp
    amount: Amount
    payment_method: str | None = Field(default=None, max_length=32)
    lines: list[LineIn] = Field(default_factory=list, max_length=500)

    def to_request(self, store_code: str | None) -> OrderRequest:
        payload = self.model_dump(mode="json")
        return OrderRequest(
            order_id=self.order_id,
            member_id=self.member_id,
            amount=self.amount,
            occurred_at=self.occurred_at,
            store_code=store_code,
            channel=self.channel,
            payment_method=self.payment_method,
            lines=tuple(
                OrderLine(
                    sku=ln.sku,
                    quantity=ln.quantity,
                    amount=ln.amount,
                    category=ln.category,
                    tags=tuple(ln.tags),
                )
                for ln in self.lines
            ),
            request_hash=fingerprint(payload),
        )


class BatchIn(Input):
    orders: list[OrderIn] = Field(min_length=1, max_length=1000)


class RefundIn(Input):
    refund_id: ExternalId
    amount: Amount
    lines: list[LineIn] = Field(default_factory=list, max_length=500)


class AwardOut(BaseModel):
    rule_id: int | None
    rule_version: int | None
    rule: str
    description: str
    description_en: str
    points: int


class OrderPointsOut(BaseModel):
    awarded: int
    status: str
    available_at: datetime | None
    expires_at: datetime | None


class MemberPointsOut(BaseModel):
    available: int
    pending: int


class OrderOut(BaseModel):
    order_id: str
    member_id: int
    points: OrderPointsOut
    breakdown: list[AwardOut]
    member_points: MemberPointsOut


class BatchResultOut(BaseModel):
    order_id: str
    status: int
    body: dict[str, Any]


class BatchOut(BaseModel):
    results: list[BatchResultOut]


class RefundMemberPointsOut(MemberPointsOut):
    debt: int


class RefundOut(BaseModel):
    refund_id: str
    order_id: str
    member_id: int
    amount: int
    points_reversed: int
    member_points: RefundMemberPointsOut
