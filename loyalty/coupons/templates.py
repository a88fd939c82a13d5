"""Coupon templates: create, change, deactivate, and reserve coupons out of their limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from loyalty.coupons.models import CouponTemplate
from loyalty.coupons.terms import Terms
from loyalty.errors import ConflictError, InvalidRequestError, NotFoundError
from loyalty.stores.models import Store
from loyalty.stores.service import UnknownStoreError


class CouponTemplateNotFoundError(NotFoundError):
    code = "coupon_template_not_found"
    title = "Coupon template not found"


class CouponTemplateInactiveError(ConflictError):
    code = "coupon_template_inactive"
    title = "Coupon template is inactive"


class IssueLimitBelowIssuedError(InvalidRequestError):
    code = "issue_limit_below_issued"
    title = "Issue limit is below the coupons already issued"


class CouponTemplateSoldOutError(ConflictError):
    code = "coupon_template_sold_out"
    title = "Coupon template has reached its issue limit"


# The fields of a template an operator sets (the API schema validates them together).
FIELDS = (
    "name",
    "name_en",
    "kind",
    "amount_off",
    "percent_off",
    "max_discount",
    "min_spend",
    "valid_days",
    "valid_from",
    "valid_until",
    "store_codes",
    "store_groups",
    "categories",
    "issue_limit",
    "active",
)


def create_template(
    session: Session, program_id: int, fields: dict[str, Any], now: datetime
) -> CouponTemplate:
    """A new template from validated fields; 422 ``unknown_store`` for a store it names."""
    check_stores(session, program_id, fields.get("store_codes") or [])
    template = CouponTemplate(program_id=program_id, issued_count=0, created_at=now, updated_at=now)
    apply_fields(template, fields)
    session.add(template)
    session.flush()
    return template


def update_template(
    session: Session, template: CouponTemplate, fields: dict[str, Any], now: datetime
) -> CouponTemplate:
    """Change a template; coupons already issued keep the terms they were issued with.

    The issue limit cannot go below what was already issued (422 ``issue_limit_below_issued``):
    it would silently mark the template sold out."""
    check_stores(session, template.program_id, fields.get("store_codes") or [])
    limit = fields.get("issue_limit")
    if limit is not None and limit < template.issued_count:
        raise IssueLimitBelowIssuedError(
            f"{template.issued_count} coupons were already issued; the limit must be at least that",
            field="issue_limit",
            issued=template.issued_count,
        )
    apply_fields(template, fields)
    template.updated_at = now
    session.flush()
    return template


def apply_fields(template: CouponTemplate, fields: dict[str, Any]) -> None:
    for name in FIELDS:
        if name in fields:
            setattr(template, name, fields[name])


def template_fields(template: CouponTemplate) -> dict[str, Any]:
    """The operator-set fields, for merging a PATCH before validating the whole."""
    return {name: getattr(template, name) for name in FIELDS}


def check_stores(session: Session, program_id: int, codes: list[str]) -> None:
    if not codes:
        return
    known = set(
        session.scalars(
            select(Store.code).where(Store.program_id == program_id, Store.code.in_(codes))
        )
    )
    missing = sorted(set(codes) - known)
    if missing:
        raise UnknownStoreError(f"store {missing[0]!r} does not exist", field="store_codes")


def get_template(session: Session, program_id: int, template_id: int) -> CouponTemplate:
    template = session.get(CouponTemplate, template_id)
    if template is None or template.program_id != program_id:
        raise CouponTemplateNotFoundError(f"coupon template {template_id} does not exist")
    return template


def list_templates(
    session: Session, program_id: int, after: int, limit: int
) -> list[CouponTemplate]:
    return list(
        session.scalars(
            select(CouponTemplate)
            .where(CouponTemplate.program_id == program_id, CouponTemplate.id > after)
            .order_by(CouponTemplate.id)
            .limit(limit)
        )
    )


def reserve(
    session: Session, program_id: int, template_id: int, n: int, now: datetime
) -> CouponTemplate:
    """Count ``n`` coupons against the template's limit, atomically, or refuse (409).

    One conditional UPDATE raises ``issued_count`` only while the template is active and
    under its limit; on PostgreSQL it also holds the row until commit, so concurrent issues
    can never exceed the limit together.
    """
    template = get_template(session, program_id, template_id)
    if template.valid_until is not None and template.valid_until <= now:
        raise CouponTemplateInactiveError(f"coupon template {template_id} has ended")
    done = session.execute(
        update(CouponTemplate)
        .where(
            CouponTemplate.id == template_id,
            CouponTemplate.active.is_(True),
            or_(
                CouponTemplate.issue_limit.is_(None),
                CouponTemplate.issued_count + n <= CouponTemplate.issue_limit,
            ),
        )
        .values(issued_count=CouponTemplate.issued_count + n)
        .execution_options(synchronize_session=False)
    )
    session.refresh(template)
    if done.rowcount == 1:  # type: ignore[attr-defined]
        return template
    if not template.active:
        raise CouponTemplateInactiveError(f"coupon template {template_id} is inactive")
    raise CouponTemplateSoldOutError(
        f"coupon template {template_id}: {template.issued_count} of {template.issue_limit} issued",
        remaining=max((template.issue_limit or 0) - template.issued_count, 0),
    )


def terms_of(template: CouponTemplate) -> Terms:
    return Terms(
        name=template.name,
        name_en=template.name_en,
        kind=template.kind,
        min_spend=template.min_spend,
        amount_off=template.amount_off,
        percent_off=template.percent_off,
        max_discount=template.max_discount,
        store_codes=tuple(template.store_codes or ()),
        store_groups=tuple(template.store_groups or ()),
        categories=tuple(template.categories or ()),
    )


def template_json(t: CouponTemplate) -> dict[str, Any]:
    return {
        "id": t.id,
        **{name: _plain(getattr(t, name)) for name in FIELDS},
        "issued_count": t.issued_count,
        "remaining": None if t.issue_limit is None else max(t.issue_limit - t.issued_count, 0),
        "created_at": t.created_at.isoformat(),
        "updated_at": t.updated_at.isoformat(),
    }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
