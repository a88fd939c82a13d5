"""Coupon templates, issuing coupons, and using them at the counter (核销)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
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
    now_factory,
    reading,
    require_store,
)
from loyalty.api.responses import json_response
from loyalty.api.schemas import problems
from loyalty.coupons import service
from loyalty.coupons.queries import assessment_json, coupon_json, coupon_report, member_coupons
from loyalty.coupons.schemas import (
    BulkIssueIn,
    BulkIssueOut,
    CouponOut,
    CouponPageOut,
    CouponReportOut,
    IssueIn,
    RedeemIn,
    RedemptionOut,
    TemplateIn,
    TemplateOut,
    TemplatePageOut,
    TemplatePatch,
    UseIn,
    ValidationOut,
    VoidIn,
)
from loyalty.coupons.templates import (
    create_template,
    get_template,
    list_templates,
    template_fields,
    template_json,
    update_template,
)
from loyalty.members.service import get_member

router = APIRouter(tags=["coupons"])
TemplateId = Annotated[int, Path(ge=1, le=2**62)]
MemberId = Annotated[int, Path(ge=1, le=2**62)]
CouponCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9\- ]+$")]
Status = Literal["issued", "used", "expired", "voided"]
Work = tuple[int, dict[str, Any]]


# --- templates -------------------------------------------------------------------------------


@router.post(
    "/v1/coupon-templates", status_code=201, response_model=TemplateOut, responses=problems()
)
def post_template(
    body: TemplateIn, request: Request, principal: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """A coupon template: "¥10 off orders over ¥50" is ``amount_off`` 1000 with
    ``min_spend`` 5000; "15% off, at most ¥20" is ``percent_off`` 15 with ``max_discount``
    2000. Empty ``store_codes``/``store_groups``/``categories`` mean no restriction."""

    def work(session: Session, now: datetime) -> Work:
        template = create_template(session, principal.program_id, body.fields(), now)
        return 201, template_json(template)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.get("/v1/coupon-templates", response_model=TemplatePageOut, responses=problems())
def get_templates(
    request: Request,
    principal: Reader,
    limit: pagination.Limit = 50,
    cursor: pagination.Cursor = None,
) -> Response:
    with reading(request) as session:
        after = pagination.decode(cursor) or 0
        rows = list_templates(session, principal.program_id, after, limit)
        return json_response(pagination.page([template_json(t) for t in rows], limit))


@router.get(
    "/v1/coupon-templates/{template_id}", response_model=TemplateOut, responses=problems(404)
)
def get_one_template(template_id: TemplateId, request: Request, principal: Reader) -> Response:
    with reading(request) as session:
        return json_response(
            template_json(get_template(session, principal.program_id, template_id))
        )


@router.patch(
    "/v1/coupon-templates/{template_id}", response_model=TemplateOut, responses=problems(404)
)
def patch_template(
    template_id: TemplateId,
    body: TemplatePatch,
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change a template (``active: false`` to stop issuing it). Coupons already issued keep
    the terms and window they were issued with."""
    changes = body.model_dump(exclude_unset=True)

    def work(session: Session, now: datetime) -> Work:
        template = get_template(session, principal.program_id, template_id)
        fields = _validated({**template_fields(template), **changes})
        return 200, template_json(update_template(session, template, fields, now))

    identity = [template_id, body.model_dump(mode="json", exclude_unset=True)]
    return mutate(request, principal, idempotency_key, identity, work)


def _validated(merged: dict[str, Any]) -> dict[str, Any]:
    """The template after a change, validated as a whole like a new one (422 if not)."""
    try:
        return TemplateIn.model_validate(merged).fields()
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_context=False)]
        raise RequestValidationError(errors) from exc


# --- issuing ---------------------------------------------------------------------------------


@router.post("/v1/coupons", status_code=201, response_model=CouponOut, responses=problems(404))
def post_coupon(
    body: IssueIn, request: Request, principal: Till, idempotency_key: IdempotencyKey = None
) -> Response:
    """Give one member a coupon, exactly once per ``issue_id``; 409
    ``coupon_template_inactive`` / ``coupon_template_sold_out``."""

    def work(session: Session, now: datetime) -> Work:
        coupon = service.issue_once(
            session, principal.program_id, body.member_id, body.template_id, body.issue_id, now
        )
        return 201, coupon_json(coupon, None, now)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.post(
    "/v1/coupons/bulk", status_code=201, response_model=BulkIssueOut, responses=problems(404)
)
def post_bulk(
    body: BulkIssueIn, request: Request, principal: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """One coupon to every active member of a segment (member tag) or of a list, in chunked
    multi-row inserts; all or nothing against the template's issue limit. Send an
    ``Idempotency-Key`` to make a retry safe."""

    def work(session: Session, now: datetime) -> Work:
        issued = service.issue_bulk(
            session,
            principal.program_id,
            body.template_id,
            now,
            segment=body.segment,
            member_ids=body.member_ids,
            source_id=body.bulk_id,
        )
        return 201, {"template_id": body.template_id, "issued": issued}

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


# --- reading ---------------------------------------------------------------------------------


@router.get("/v1/coupons/{code}", response_model=CouponOut, responses=problems(404))
def get_coupon(code: CouponCode, request: Request, principal: Reader) -> Response:
    now = now_factory(request)()
    with reading(request) as session:
        coupon = service.find_coupon(session, principal.program_id, code)
        used_at = service.store_code_of(session, coupon.used_store_id)
        return json_response(coupon_json(coupon, used_at, now))


@router.get(
    "/v1/members/{member_id}/coupons", response_model=CouponPageOut, responses=problems(404)
)
def get_member_coupons(
    member_id: MemberId,
    request: Request,
    principal: Reader,
    status: Annotated[Status | None, Query()] = None,
    limit: pagination.Limit = 50,
    cursor: pagination.Cursor = None,
) -> Response:
    """A member's coupons, newest first; ``status=issued`` lists the ones usable now."""
    now = now_factory(request)()
    with reading(request) as session:
        get_member(session, principal.program_id, member_id)
        before = pagination.decode(cursor)
        items = member_coupons(session, member_id, status, before, limit, now)
        return json_response(pagination.page(items, limit))


# --- at the counter --------------------------------------------------------------------------


@router.post("/v1/coupons/{code}/validate", response_model=ValidationOut, responses=problems(404))
def post_validate(code: CouponCode, body: UseIn, request: Request, principal: Till) -> Response:
    """Would this coupon apply to this order, and for how much? Nothing changes. When it
    would not, ``reason`` is the code ``redeem`` would refuse with (``coupon_expired``,
    ``min_spend_not_met``, ``store_not_allowed``, ``coupon_already_used`` with ``used_at`` and
    ``used_store_code``...)."""
    use = service.Use(body.amount, require_store(principal, body.store_code), body.order_lines())
    now = now_factory(request)()
    with reading(request) as session:
        coupon = service.find_coupon(session, principal.program_id, code)
        return json_response(assessment_json(coupon.code, service.check(session, coupon, use, now)))


@router.post("/v1/coupons/{code}/redeem", response_model=RedemptionOut, responses=problems(404))
def post_redeem(
    code: CouponCode,
    body: RedeemIn,
    request: Request,
    principal: Till,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Use the coupon, once: a second use is 409 ``coupon_already_used`` with ``used_at`` and
    ``used_store_code``; a store it excludes is 422 ``store_not_allowed``. The same
    ``order_id`` at the same store and amount gets the first answer again."""
    use = service.Use(
        body.amount, require_store(principal, body.store_code), body.order_lines(), body.order_id
    )

    def work(session: Session, now: datetime) -> Work:
        coupon = service.redeem(session, principal.program_id, code, use, now)
        view = coupon_json(coupon, use.store_code, now)
        return 200, {"code": coupon.code, "discount": coupon.discount or 0, "coupon": view}

    identity = [code, body.model_dump(mode="json")]
    return mutate(request, principal, idempotency_key, identity, work)


@router.post("/v1/coupons/{code}/void", response_model=CouponOut, responses=problems(404))
def post_void(
    code: CouponCode,
    body: VoidIn,
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Withdraw an unused coupon; a used one is 409 ``coupon_already_used``."""

    def work(session: Session, now: datetime) -> Work:
        coupon = service.void(session, principal.program_id, code, body.reason, now)
        return 200, coupon_json(coupon, None, now)

    identity = [code, body.model_dump(mode="json")]
    return mutate(request, principal, idempotency_key, identity, work)


@router.get("/v1/reports/coupons", response_model=CouponReportOut, responses=problems())
def get_coupon_report(request: Request, principal: Analyst) -> Response:
    """Per template: issued, used, expired, voided, outstanding, usage rate (used / issued)
    and the discount given in fen; totals over all templates."""
    now = now_factory(request)()
    with reading(request) as session:
        return json_response(coupon_report(session, principal.program_id, now))
