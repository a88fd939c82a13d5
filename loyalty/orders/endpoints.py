"""``/v1/orders``: earn on orders (single, simulated, batch) and take back on refunds."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from loyalty.api.deps import (
    IdempotencyKey,
    Till,
    mutate,
    now_factory,
    reading,
    require_store,
    write,
)
from loyalty.api.idempotency import Keyed, check_key
from loyalty.api.problems import problem_body
from loyalty.api.responses import json_response
from loyalty.api.schemas import problems
from loyalty.errors import LoyaltyError
from loyalty.orders.groups import order_groups
from loyalty.orders.schemas import BatchIn, BatchOut, OrderIn, OrderOut, RefundIn, RefundOut
from loyalty.orders.service import (
    OrderRequest,
    Outcome,
    RefundRequest,
    error_outcome,
    fingerprint,
    post_orders,
    public_body,
    refund_order,
)
from loyalty.programs.service import current_program

router = APIRouter(prefix="/v1/orders", tags=["orders"])

# Orders of a batch posted per transaction. Concurrent batches of 1,000 random members among
# 100,000 share about ten members per pair, and one waited for the other's whole batch: 4,300
# to 4,800 orders/s in one transaction, 6,300 in parts of 100 to 250 (500: 5,400).
BATCH_PART = 200


def _single(outcome: Outcome) -> tuple[int, dict[str, Any]]:
    if outcome.error is not None:
        raise outcome.error
    return outcome.status, public_body(outcome.body)


@router.post("", status_code=201, response_model=OrderOut, responses=problems(404, 409))
async def post_order(
    body: OrderIn, request: Request, principal: Till, idempotency_key: IdempotencyKey = None
) -> Response:
    """Credit the points an order earns, with the breakdown that explains each point.

    Exactly once per ``order_id``: a retry gets the first answer; the same ``order_id`` with
    another body is 409 ``order_conflict``. Orders that arrive together are written in one
    transaction, each answered as if alone (``orders.groups``), with an ``Idempotency-Key``
    or without.
    """
    req = body.to_request(require_store(principal, body.store_code))
    keyed = None
    if idempotency_key is not None:  # the fingerprint ``api.idempotency.once`` gives a call
        keyed = Keyed(check_key(idempotency_key), fingerprint([request.url.path, req.request_hash]))
    outcome = await order_groups(request.app.state).post(principal.program_id, req, keyed)
    status, answer = _single(outcome)
    return json_response(answer, status)


@router.post("/simulate", response_model=OrderOut, responses=problems(404))
async def simulate_order(body: OrderIn, request: Request, principal: Till) -> Response:
    """What the order would earn, explained; nothing is written."""
    req = body.to_request(require_store(principal, body.store_code))
    with reading(request) as session:
        program = current_program(session, principal.program_id)
        outcome = post_orders(session, program, [req], now_factory(request)(), simulate=True)[0]
        _, answer = _single(outcome)
    return json_response(answer, 200)


@router.post("/batch", response_model=BatchOut, responses=problems())
def post_batch(
    body: BatchIn, request: Request, principal: Till, idempotency_key: IdempotencyKey = None
) -> Response:
    """Up to 1,000 orders, each answered on its own; a bad order never rejects the others.

    Orders are posted in parts of ``BATCH_PART``, one transaction each, so concurrent
    batches that share a few members wait for each other's part, not for the whole batch.
    Each order is exactly-once by its ``order_id``: a batch sent again after a failure gets
    the posted orders' first answers and posts the rest. With an ``Idempotency-Key`` the
    batch is one transaction, answered once for the key.
    """
    ready: list[OrderRequest] = []
    refused: dict[int, Outcome] = {}
    for i, order in enumerate(body.orders):
        try:
            ready.append(order.to_request(require_store(principal, order.store_code)))
        except LoyaltyError as exc:
            refused[i] = error_outcome(order.order_id, exc)

    def post(session: Session, now: datetime, orders: list[OrderRequest]) -> list[Outcome]:
        return post_orders(session, current_program(session, principal.program_id), orders, now)

    def answer(posted: list[Outcome]) -> dict[str, Any]:
        outcomes = iter(posted)
        results = [refused.get(i) or next(outcomes) for i in range(len(body.orders))]
        return {"results": [_result(o) for o in results]}

    def at_once(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        return 200, answer(post(session, now, ready))

    if idempotency_key is not None:
        hashes = [r.request_hash for r in ready]
        return mutate(request, principal, idempotency_key, hashes, at_once)
    now = now_factory(request)()
    parts = [ready[i : i + BATCH_PART] for i in range(0, len(ready), BATCH_PART)]
    posted = [o for part in parts for o in write(request, partial(post, now=now, orders=part))]
    return json_response(answer(posted), 200)


def _result(outcome: Outcome) -> dict[str, Any]:
    body = problem_body(outcome.error) if outcome.error else public_body(outcome.body)
    return {"order_id": outcome.order_id, "status": outcome.status, "body": body}


@router.post(
    "/{order_id}/refunds", status_code=201, response_model=RefundOut, responses=problems(404, 409)
)
def post_refund(
    order_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: RefundIn,
    request: Request,
    principal: Till,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Take back points in proportion to the refunded amount, once per ``refund_id``."""
    payload = body.model_dump(mode="json")
    req = RefundRequest(
        refund_id=body.refund_id, amount=body.amount, request_hash=fingerprint([order_id, payload])
    )

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        program = current_program(session, principal.program_id)
        return 201, refund_order(
            session, program, order_id, req, now, principal.actor, store_id=principal.store_id
        )

    return mutate(request, principal, idempotency_key, payload, work)
