"""Points lotteries: configure them and their prizes, draw, and read the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from loyalty.api import pagination
from loyalty.api.deps import (
    Admin,
    Analyst,
    IdempotencyKey,
    Reader,
    Till,
    mutate,
    reading,
    require_store,
)
from loyalty.api.responses import json_response
from loyalty.api.schemas import problems
from loyalty.lotteries.models import LotteryDraw
from loyalty.lotteries.queries import draws_page, lottery_report
from loyalty.lotteries.schemas import (
    AuditPageOut,
    DrawIn,
    DrawOut,
    LotteryIn,
    LotteryOut,
    LotteryPageOut,
    LotteryPatch,
    LotteryReportOut,
    PrizesIn,
    merged,
)
from loyalty.lotteries.service import DrawRequest, draw
from loyalty.lotteries.setup import (
    active_prizes,
    create_lottery,
    get_lottery,
    list_lotteries,
    lottery_fields,
    lottery_json,
    replace_prizes,
    update_lottery,
)
from loyalty.members.service import get_member
from loyalty.orders.service import fingerprint
from loyalty.programs.service import get_program

router = APIRouter(tags=["lotteries"])
LotteryId = Annotated[int, Path(ge=1, le=2**62)]
MemberId = Annotated[int, Path(ge=1, le=2**62)]
Work = tuple[int, dict[str, Any]]


@router.post("/v1/lotteries", status_code=201, response_model=LotteryOut, responses=problems())
def post_lottery(
    body: LotteryIn, request: Request, principal: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """A lottery; give it prizes with ``PUT /v1/lotteries/{id}/prizes``."""

    def work(session: Session, now: datetime) -> Work:
        lottery = create_lottery(session, principal.program_id, body.model_dump(), now)
        return 201, lottery_json(lottery, [])

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.get("/v1/lotteries", response_model=LotteryPageOut, responses=problems())
def get_lotteries(
    request: Request,
    principal: Reader,
    limit: pagination.Limit = 50,
    cursor: pagination.Cursor = None,
) -> Response:
    with reading(request) as session:
        rows = list_lotteries(session, principal.program_id, pagination.decode(cursor) or 0, limit)
        items = [lottery_json(lot, active_prizes(session, lot.id)) for lot in rows]
        return json_response(pagination.page(items, limit))


@router.get("/v1/lotteries/{lottery_id}", response_model=LotteryOut, responses=problems(404))
def get_one_lottery(lottery_id: LotteryId, request: Request, principal: Reader) -> Response:
    """The lottery with its prizes, their stock left and their odds right now."""
    with reading(request) as session:
        lottery = get_lottery(session, principal.program_id, lottery_id)
        return json_response(lottery_json(lottery, active_prizes(session, lottery.id)))


@router.patch("/v1/lotteries/{lottery_id}", response_model=LotteryOut, responses=problems(404))
def patch_lottery(
    lottery_id: LotteryId,
    body: LotteryPatch,
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change a lottery (``status: paused`` stops draws); validated as a whole."""

    def work(session: Session, now: datetime) -> Work:
        lottery = get_lottery(session, principal.program_id, lottery_id)
        fields = _validated(merged(lottery_fields(lottery), body))
        update_lottery(session, lottery, fields, now)
        return 200, lottery_json(lottery, active_prizes(session, lottery.id))

    identity = [lottery_id, body.model_dump(mode="json", exclude_unset=True)]
    return mutate(request, principal, idempotency_key, identity, work)


def _validated(fields: dict[str, Any]) -> dict[str, Any]:
    try:
        return LotteryIn.model_validate(fields).model_dump()
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_context=False)]
        raise RequestValidationError(errors) from exc


@router.put("/v1/lotteries/{lottery_id}/prizes", response_model=LotteryOut, responses=problems(404))
def put_prizes(
    lottery_id: LotteryId,
    body: PrizesIn,
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Replace the prizes. ``stock`` is how many can still be given from now on (none: no
    limit); a prize out of stock drops out and the others' odds re-normalise."""
    specs = [p.spec() for p in body.prizes]

    def work(session: Session, now: datetime) -> Work:
        lottery = get_lottery(session, principal.program_id, lottery_id)
        return 200, lottery_json(lottery, replace_prizes(session, lottery, specs, now))

    identity = [lottery_id, body.model_dump(mode="json")]
    return mutate(request, principal, idempotency_key, identity, work)


@router.post(
    "/v1/lotteries/{lottery_id}/draws",
    status_code=201,
    response_model=DrawOut,
    responses=problems(404, 409),
)
def post_draw(
    lottery_id: LotteryId,
    body: DrawIn,
    request: Request,
    principal: Till,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Draw once: the cost is spent (409 ``insufficient_points``), a prize in stock is picked
    with the server's cryptographic randomness and awarded. 409 ``lottery_not_open``,
    ``daily_draw_limit_reached``, ``lottery_sold_out``. Exactly once per ``draw_id``: a retry
    gets the first answer, another body 409 ``draw_conflict``."""
    payload = body.model_dump(mode="json")
    req = DrawRequest(
        draw_id=body.draw_id,
        member_id=body.member_id,
        request_hash=fingerprint([lottery_id, payload]),
        store_code=require_store(principal, body.store_code),
    )

    def work(session: Session, now: datetime) -> Work:
        program = get_program(session, principal.program_id)
        return 201, draw(session, program, lottery_id, req, now, principal.actor)

    return mutate(request, principal, idempotency_key, [lottery_id, payload], work)


@router.get(
    "/v1/lotteries/{lottery_id}/draws", response_model=AuditPageOut, responses=problems(404)
)
def get_draws(
    lottery_id: LotteryId,
    request: Request,
    principal: Reader,
    limit: pagination.Limit = 50,
    cursor: pagination.Cursor = None,
) -> Response:
    """Every draw, newest first: member, cost, prize, the random number and total weight."""
    with reading(request) as session:
        get_lottery(session, principal.program_id, lottery_id)
        where = LotteryDraw.lottery_id == lottery_id
        items = draws_page(session, where, pagination.decode(cursor), limit)
        return json_response(pagination.page(items, limit))


@router.get("/v1/members/{member_id}/draws", response_model=AuditPageOut, responses=problems(404))
def get_member_draws(
    member_id: MemberId,
    request: Request,
    principal: Reader,
    limit: pagination.Limit = 50,
    cursor: pagination.Cursor = None,
) -> Response:
    """A member's draws in every lottery, newest first."""
    with reading(request) as session:
        get_member(session, principal.program_id, member_id)
        where = LotteryDraw.member_id == member_id
        items = draws_page(session, where, pagination.decode(cursor), limit)
        return json_response(pagination.page(items, limit))


@router.get("/v1/reports/lotteries", response_model=LotteryReportOut, responses=problems())
def get_lottery_report(request: Request, principal: Analyst) -> Response:
    """Per lottery: draws, points spent, points won, and per prize how many were given and
    their cost in fen where known (points at the program's point value)."""
    with reading(request) as session:
        return json_response(lottery_report(session, get_program(session, principal.program_id)))
