"""``/v1/rewards``, ``/v1/redemptions`` and members' addresses: the points mall."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.api import pagination
from loyalty.api.deps import (
    Admin,
    Analyst,
    IdempotencyKey,
    Reader,
    Till,
    mutate,
    now_factory,
    reading,
    require_store,
)
from loyalty.api.responses import json_response
from loyalty.api.schemas import EARLIEST, LATEST, Code, ExternalId, Id, Input, Timestamp, problems
from loyalty.members.service import get_member, lock_member
from loyalty.orders.service import fingerprint
from loyalty.programs.service import get_program
from loyalty.rewards.catalog import (
    get_reward,
    list_rewards,
    member_catalog,
    reward_json,
    save_reward,
    set_store_stock,
)
from loyalty.rewards.choices import AddressFields, save_address
from loyalty.rewards.models import Address, Redemption
from loyalty.rewards.qr import qr_png
from loyalty.rewards.reports import rewards_report
from loyalty.rewards.service import (
    RedeemRequest,
    _day_start,
    advance,
    cancel,
    get_redemption,
    redeem,
    redemption_json,
    verify_code,
)
from loyalty.stores.service import get_store

router = APIRouter(tags=["points mall"])
RewardId = Annotated[int, Path(ge=1, le=2**62)]
MemberId = Annotated[int, Path(ge=1, le=2**62)]
RedemptionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.:/#]+$")]


class RewardIn(Input):
    name: str = Field(min_length=1, max_length=80, examples=["中杯奶茶"])
    name_en: str | None = Field(default=None, max_length=80, examples=["Medium milk tea"])
    description: str | None = Field(default=None, max_length=500)
    category: str | None = Field(default=None, max_length=40)
    kind: Literal["gift", "coupon", "stored_value", "service"] = "gift"
    image_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    points_price: int = Field(ge=0, le=10**9)
    cash_price: int = Field(default=0, ge=0, le=10**9, description="fen paid on top")
    allow_partial: bool = False
    coupon_template_id: Id | None = None
    stored_value_amount: int | None = Field(default=None, ge=1, le=10**9)
    stock: int | None = Field(default=None, ge=0, le=10**9)
    limit_per_day: int | None = Field(default=None, ge=1, le=10**6)
    limit_total: int | None = Field(default=None, ge=1, le=10**6)
    tiers: list[Code] = Field(default_factory=list, max_length=20)
    status: Literal["on", "off"] = "on"
    available_from: Timestamp | None = None
    available_until: Timestamp | None = None
    fulfilment: Literal["pickup", "delivery", "instant"] = "pickup"
    pickup_days: int = Field(default=30, ge=1, le=365)


class RewardPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    name_en: str | None = Field(default=None, max_length=80)
    description: str | None = Field(default=None, max_length=500)
    image_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    points_price: int | None = Field(default=None, ge=0, le=10**9)
    cash_price: int | None = Field(default=None, ge=0, le=10**9)
    stock: int | None = Field(default=None, ge=0, le=10**9)
    limit_per_day: int | None = Field(default=None, ge=1, le=10**6)
    limit_total: int | None = Field(default=None, ge=1, le=10**6)
    tiers: list[Code] | None = Field(default=None, max_length=20)
    status: Literal["on", "off"] | None = None
    available_from: Timestamp | None = None
    available_until: Timestamp | None = None


class StockIn(Input):
    stock: int = Field(ge=0, le=10**9)


class AddressIn(Input):
    recipient: str = Field(min_length=1, max_length=40)
    phone: str = Field(min_length=5, max_length=20)
    region: str = Field(min_length=1, max_length=80, examples=["上海市 静安区"])
    detail: str = Field(min_length=1, max_length=200)
    is_default: bool = True


class RedeemIn(Input):
    redemption_id: ExternalId
    member_id: Id
    reward_id: Id
    quantity: int = Field(default=1, ge=1, le=100)
    store_code: Code | None = Field(default=None, description="pickup store")
    address_id: Id | None = None
    points: int | None = Field(
        default=None, ge=0, le=10**9, description="use fewer points; the rest is paid in money"
    )


class VerifyIn(Input):
    code: str = Field(min_length=4, max_length=12, pattern=r"^[0-9A-Za-z]+$")
    store_code: Code | None = None


class ShipIn(Input):
    tracking: str | None = Field(default=None, max_length=64)


@router.post("/v1/rewards", status_code=201, responses=problems())
def post_reward(
    body: RewardIn, request: Request, principal: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """Put a reward in the mall: points or points + cash, stock, limits, tiers, schedule."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        return 201, reward_json(save_reward(session, principal.program_id, body.model_dump(), now))

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.patch("/v1/rewards/{reward_id}", responses=problems())
def patch_reward(
    reward_id: RewardId, body: RewardPatch, request: Request, principal: Admin
) -> Response:
    changes = body.model_dump(exclude_none=True)  # null leaves a field as it is

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        reward = get_reward(session, principal.program_id, reward_id, lock=True)
        return 200, reward_json(save_reward(session, principal.program_id, changes, now, reward))

    return mutate(request, principal, None, body.model_dump(mode="json"), work)


@router.put("/v1/rewards/{reward_id}/stock/{store_code}", responses=problems())
def put_store_stock(
    reward_id: RewardId,
    store_code: Annotated[Code, Path()],
    body: StockIn,
    request: Request,
    principal: Admin,
) -> Response:
    """Stock kept at one store (a reward with store stock is only picked up where it is)."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        reward = get_reward(session, principal.program_id, reward_id, lock=True)
        set_store_stock(
            session, reward, get_store(session, principal.program_id, store_code), body.stock
        )
        return 200, {"reward_id": reward_id, "store_code": store_code, "stock": body.stock}

    return mutate(request, principal, None, body.model_dump(mode="json"), work)


@router.get("/v1/rewards", responses=problems())
def get_rewards(
    request: Request,
    principal: Reader,
    status: Annotated[Literal["on", "off"] | None, Query()] = None,
) -> Response:
    with reading(request) as session:
        return json_response(
            [reward_json(r) for r in list_rewards(session, principal.program_id, status)]
        )


@router.get("/v1/rewards/{reward_id}", responses=problems())
def get_one_reward(reward_id: RewardId, request: Request, principal: Reader) -> Response:
    with reading(request) as session:
        return json_response(reward_json(get_reward(session, principal.program_id, reward_id)))


@router.get("/v1/members/{member_id}/rewards", responses=problems())
def get_member_rewards(member_id: MemberId, request: Request, principal: Reader) -> Response:
    """What this member can redeem now first, then the rest with why not ("差 120 积分")."""
    with reading(request) as session:
        program = get_program(session, principal.program_id)
        member = get_member(session, principal.program_id, member_id)
        now = now_factory(request)()
        return json_response(member_catalog(session, member, now, _day_start(program, now)))


@router.post("/v1/members/{member_id}/addresses", status_code=201, responses=problems())
def post_address(
    member_id: MemberId, body: AddressIn, request: Request, principal: Till
) -> Response:
    """Save a delivery address once; redemptions use it without re-typing."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        member = lock_member(session, principal.program_id, member_id)
        fields = AddressFields(body.recipient, body.phone, body.region, body.detail)
        address = save_address(session, member, fields, now, default=body.is_default)
        return 201, _address_json(address)

    return mutate(request, principal, None, body.model_dump(mode="json"), work)


@router.get("/v1/members/{member_id}/addresses", responses=problems())
def get_addresses(member_id: MemberId, request: Request, principal: Reader) -> Response:
    with reading(request) as session:
        get_member(session, principal.program_id, member_id)
        rows = session.scalars(
            select(Address)
            .where(Address.member_id == member_id)
            .order_by(Address.is_default.desc(), Address.id.desc())
        )
        return json_response([_address_json(a) for a in rows])


def _address_json(a: Address) -> dict[str, Any]:
    return {
        "id": a.id,
        "recipient": a.recipient,
        "phone": a.phone,
        "region": a.region,
        "detail": a.detail,
        "is_default": a.is_default,
    }


@router.post("/v1/redemptions", status_code=201, responses=problems())
def post_redemption(
    body: RedeemIn, request: Request, principal: Till, idempotency_key: IdempotencyKey = None
) -> Response:
    """Redeem: points deducted at once (soonest-expiring first), stock reserved; a pickup
    code and QR code, delivery to the saved address, or a coupon / stored value at once."""
    payload = body.model_dump(mode="json")
    store_code = require_store(principal, body.store_code)
    req = RedeemRequest(
        body.redemption_id,
        body.member_id,
        body.reward_id,
        body.quantity,
        fingerprint(payload),
        store_code,
        body.address_id,
        body.points,
    )

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 201, redeem(session, program, req, now, principal.actor)

    return mutate(request, principal, idempotency_key, payload, work)


@router.get("/v1/redemptions", responses=problems())
def get_redemptions(
    request: Request,
    principal: Reader,
    limit: pagination.Limit = 50,
    cursor: pagination.Cursor = None,
    status: Annotated[str | None, Query(max_length=12)] = None,
    member_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    with reading(request) as session:
        stmt = select(Redemption).where(Redemption.program_id == principal.program_id)
        if status:
            stmt = stmt.where(Redemption.status == status)
        if member_id:
            stmt = stmt.where(Redemption.member_id == member_id)
        before = pagination.decode(cursor)
        if before is not None:
            stmt = stmt.where(Redemption.id < before)
        rows = list(session.scalars(stmt.order_by(Redemption.id.desc()).limit(limit)))
        items = [{**redemption_json(session, r), "id": r.id} for r in rows]
        return json_response(pagination.page(items, limit))


@router.get("/v1/redemptions/{redemption_id}", responses=problems())
def get_one_redemption(
    redemption_id: RedemptionId, request: Request, principal: Reader
) -> Response:
    with reading(request) as session:
        found = get_redemption(session, principal.program_id, redemption_id)
        return json_response(redemption_json(session, found))


@router.get(
    "/v1/redemptions/{redemption_id}/qr.png",
    responses={200: {"content": {"image/png": {}}}, **problems()},
)
def get_qr(redemption_id: RedemptionId, request: Request, principal: Reader) -> Response:
    """The pickup code as a QR code the counter scans."""
    with reading(request) as session:
        found = get_redemption(session, principal.program_id, redemption_id)
    if not found.pickup_code:
        return json_response({"detail": "no pickup code"}, 404)
    return Response(qr_png(found.pickup_code), media_type="image/png")


@router.post("/v1/redemptions/verify", responses=problems())
def post_verify(body: VerifyIn, request: Request, principal: Till) -> Response:
    """Counter verification (核销): the pickup code is used once, at the allowed store; a
    second use is 409 ``already_verified`` with when and where."""
    store_code = require_store(principal, body.store_code)

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        if store_code is None:
            from loyalty.stores.service import UnknownStoreError

            raise UnknownStoreError("say which store verifies the code", field="store_code")
        store = get_store(session, principal.program_id, store_code)
        return 200, verify_code(session, program, body.code, store, now, principal.actor)

    return mutate(request, principal, None, ["verify", body.code], work)


@router.post("/v1/redemptions/{redemption_id}/cancel", responses=problems())
def post_cancel(redemption_id: RedemptionId, request: Request, principal: Till) -> Response:
    """Cancel a pending redemption: points back with their original expiry, stock back."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 200, cancel(session, program, redemption_id, now, principal.actor)

    return mutate(request, principal, None, ["cancel", redemption_id], work)


@router.post("/v1/redemptions/{redemption_id}/ship", responses=problems())
def post_ship(
    redemption_id: RedemptionId, request: Request, principal: Admin, body: ShipIn | None = None
) -> Response:
    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 200, advance(
            session, program, redemption_id, "shipped", now, body.tracking if body else None
        )

    return mutate(request, principal, None, ["ship", redemption_id], work)


@router.post("/v1/redemptions/{redemption_id}/complete", responses=problems())
def post_complete(redemption_id: RedemptionId, request: Request, principal: Admin) -> Response:
    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = get_program(session, principal.program_id)
        return 200, advance(session, program, redemption_id, "completed", now)

    return mutate(request, principal, None, ["complete", redemption_id], work)


@router.get("/v1/reports/rewards", responses=problems())
def get_rewards_report(
    request: Request,
    principal: Analyst,
    from_: Annotated[datetime, Query(alias="from")],
    to: Annotated[datetime, Query()],
) -> Response:
    """Redemption rate, the most popular rewards, stock left."""
    start, end = _aware(from_), _aware(to)
    if not EARLIEST <= start < end <= LATEST:
        from loyalty.reports.endpoints import InvalidPeriodError

        raise InvalidPeriodError("need 2000-01-01 <= from < to <= 2100-01-01")
    with reading(request) as session:
        program = get_program(session, principal.program_id)
        return json_response(rewards_report(session, program, start, end))


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
