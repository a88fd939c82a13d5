"""Stored value (储值): top-up bonus tiers, a member's wallet, and the stored-value report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime
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
from loyalty.api.schemas import EARLIEST, LATEST, problems
from loyalty.members.service import get_member
from loyalty.orders.service import fingerprint
from loyalty.programs.service import get_program
from loyalty.reports.endpoints import InvalidPeriodError
from loyalty.wallet.bonuses import BonusTier, program_tiers, replace_tiers
from loyalty.wallet.queries import history_page, stored_value_report, wallet_view
from loyalty.wallet.schemas import (
    BonusTiersIn,
    BonusTiersOut,
    PaymentIn,
    PaymentOut,
    StoredValueReportOut,
    TopUpIn,
    TopUpOut,
    WalletOut,
    WalletRefundIn,
    WalletRefundOut,
)
from loyalty.wallet.service import PaymentRequest, WalletRefundRequest, pay, refund_payment
from loyalty.wallet.topups import TopUpRequest, top_up

router = APIRouter(tags=["wallet"])
MemberId = Annotated[int, Path(ge=1, le=2**62)]
PaymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.:#]+$")]
Work = tuple[int, dict[str, Any]]


def _tiers_json(tiers: list[BonusTier]) -> dict[str, Any]:
    return {"tiers": [t.as_dict() for t in tiers]}


@router.get("/v1/wallet/top-up-bonuses", response_model=BonusTiersOut, responses=problems())
def get_bonuses(request: Request, principal: Reader) -> Response:
    """The program's top-up bonus tiers, lowest threshold first."""
    with reading(request) as session:
        return json_response(_tiers_json(program_tiers(session, principal.program_id)))


@router.put("/v1/wallet/top-up-bonuses", response_model=BonusTiersOut, responses=problems())
def put_bonuses(
    body: BonusTiersIn, request: Request, principal: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """Replace every tier ("top up ¥1,000, get 100 points"). Only the tier with the highest
    ``min_amount`` not above a top-up applies. 422 for a negative value, a tier that gives
    nothing, or two tiers with one threshold. Past top-ups keep what they were given."""
    tiers = [BonusTier(t.min_amount, t.bonus_points, t.bonus_amount) for t in body.tiers]

    def work(session: Session, now: datetime) -> Work:
        return 200, _tiers_json(replace_tiers(session, principal.program_id, tiers, now))

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.post(
    "/v1/members/{member_id}/wallet/top-ups",
    status_code=201,
    response_model=TopUpOut,
    responses=problems(404, 409),
)
def post_top_up(
    member_id: MemberId,
    body: TopUpIn,
    request: Request,
    principal: Till,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Credit a top-up and its bonus: value to the wallet, points to the points ledger (each
    point explained: "充值 ¥1000 赠 100 积分").

    Exactly once per ``top_up_id``: a retry gets the first answer; the same ``top_up_id`` with
    another body is 409 ``top_up_conflict``.
    """
    payload = body.model_dump(mode="json")
    req = TopUpRequest(
        top_up_id=body.top_up_id,
        member_id=member_id,
        amount=body.amount,
        request_hash=fingerprint([member_id, payload]),
        payment_method=body.payment_method,
        store_code=require_store(principal, body.store_code),
    )

    def work(session: Session, now: datetime) -> Work:
        program = get_program(session, principal.program_id)
        return 201, top_up(session, program, req, now, principal.actor)

    return mutate(request, principal, idempotency_key, payload, work)


@router.post(
    "/v1/members/{member_id}/wallet/payments",
    status_code=201,
    response_model=PaymentOut,
    responses=problems(404, 409),
)
def post_payment(
    member_id: MemberId,
    body: PaymentIn,
    request: Request,
    principal: Till,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Pay at the till from the wallet; 409 ``insufficient_balance`` if it is short.

    Principal and bonus value are spent in proportion to the balance. Exactly once per
    ``payment_id`` (409 ``payment_conflict`` for another body).
    """
    payload = body.model_dump(mode="json")
    req = PaymentRequest(
        payment_id=body.payment_id,
        member_id=member_id,
        amount=body.amount,
        request_hash=fingerprint([member_id, payload]),
        order_id=body.order_id,
        store_code=require_store(principal, body.store_code),
    )

    def work(session: Session, now: datetime) -> Work:
        program = get_program(session, principal.program_id)
        return 201, pay(session, program, req, now, principal.actor)

    return mutate(request, principal, idempotency_key, payload, work)


@router.post(
    "/v1/members/{member_id}/wallet/payments/{payment_id}/refunds",
    status_code=201,
    response_model=WalletRefundOut,
    responses=problems(404, 409),
)
def post_refund(
    member_id: MemberId,
    payment_id: PaymentId,
    body: WalletRefundIn,
    request: Request,
    principal: Till,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Give (part of) a payment back to the wallet, once per ``refund_id``; 422
    ``refund_exceeds_payment`` beyond what was paid."""
    payload = body.model_dump(mode="json")
    req = WalletRefundRequest(
        refund_id=body.refund_id,
        amount=body.amount,
        request_hash=fingerprint([member_id, payment_id, payload]),
    )

    def work(session: Session, now: datetime) -> Work:
        program = get_program(session, principal.program_id)
        return 201, refund_payment(
            session, program, member_id, payment_id, req, now, principal.actor, principal.store_id
        )

    return mutate(request, principal, idempotency_key, payload, work)


@router.get("/v1/members/{member_id}/wallet", response_model=WalletOut, responses=problems(404))
def get_wallet(
    request: Request,
    principal: Reader,
    member_id: MemberId,
    limit: pagination.Limit = 50,
    cursor: pagination.Cursor = None,
) -> Response:
    """Balance (principal and bonus value), lifetime figures, and the history, newest first,
    each entry with its description and the balance after it."""
    with reading(request) as session:
        program = get_program(session, principal.program_id)
        get_member(session, principal.program_id, member_id)
        items = history_page(session, member_id, pagination.decode(cursor), limit)
        view = wallet_view(session, program, member_id)
        return json_response({**view, **pagination.page(items, limit)})


@router.get("/v1/reports/stored-value", response_model=StoredValueReportOut, responses=problems())
def get_stored_value_report(
    request: Request,
    principal: Analyst,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
) -> Response:
    """Outstanding stored value now (and at ``to``); top-ups, bonus value, payments and
    refunds in [from, to); the points given as top-up bonus with their money value at the
    program's point value and their expected cost at the redemption rate observed on all points
    issued before ``to``. ``from`` defaults to the beginning, ``to`` to now."""
    start = from_.astimezone(UTC) if from_ else EARLIEST
    end = to.astimezone(UTC) if to else now_factory(request)()
    if not EARLIEST <= start < end <= LATEST:
        raise InvalidPeriodError("need 2000-01-01 <= from < to <= 2100-01-01")
    with reading(request) as session:
        program = get_program(session, principal.program_id)
        return json_response(stored_value_report(session, program, start, end))
