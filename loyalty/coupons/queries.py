"""Read models of coupons: one coupon, a member's coupons, and the coupon report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from loyalty.coupons.models import Coupon, CouponTemplate
from loyalty.coupons.terms import Assessment
from loyalty.stores.models import Store


def effective_status(coupon: Coupon, now: datetime) -> str:
    """An issued coupon past its window is expired, whether or not the job has run yet."""
    if coupon.status == "issued" and coupon.valid_until <= now:
        return "expired"
    return coupon.status


def coupon_json(coupon: Coupon, used_store_code: str | None, now: datetime) -> dict[str, Any]:
    terms = coupon.terms
    return {
        "id": coupon.id,
        "code": coupon.code,
        "template_id": coupon.template_id,
        "member_id": coupon.member_id,
        "status": effective_status(coupon, now),
        "name": terms.get("name"),
        "name_en": terms.get("name_en"),
        "kind": terms.get("kind"),
        "amount_off": terms.get("amount_off"),
        "percent_off": terms.get("percent_off"),
        "max_discount": terms.get("max_discount"),
        "min_spend": terms.get("min_spend", 0),
        "store_codes": terms.get("store_codes", []),
        "store_groups": terms.get("store_groups", []),
        "categories": terms.get("categories", []),
        "issued_at": coupon.issued_at.isoformat(),
        "valid_from": coupon.valid_from.isoformat(),
        "valid_until": coupon.valid_until.isoformat(),
        "source": {"type": coupon.source_type, "id": coupon.source_id},
        **_use_json(coupon, used_store_code),
    }


def _use_json(coupon: Coupon, used_store_code: str | None) -> dict[str, Any]:
    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t else None

    return {
        "used_at": iso(coupon.used_at),
        "used_store_code": used_store_code,
        "used_order_id": coupon.used_order_id,
        "used_amount": coupon.used_amount,
        "discount": coupon.discount,
        "voided_at": iso(coupon.voided_at),
        "void_reason": coupon.void_reason,
    }


def assessment_json(code: str, result: Assessment) -> dict[str, Any]:
    return {
        "code": code,
        "applies": result.applies,
        "discount": result.discount,
        "eligible_amount": result.eligible_amount or result.extra.get("eligible_amount", 0),
        "reason": result.reason,
        "detail": result.detail,
        "used_at": result.extra.get("used_at"),
        "used_store_code": result.extra.get("used_store_code"),
    }


def _status_filter(status: str, now: datetime) -> ColumnElement[bool]:
    if status == "issued":
        return and_(Coupon.status == "issued", Coupon.valid_until > now)
    if status == "expired":
        return or_(
            Coupon.status == "expired", and_(Coupon.status == "issued", Coupon.valid_until <= now)
        )
    return Coupon.status == status


def member_coupons(
    session: Session,
    member_id: int,
    status: str | None,
    before: int | None,
    limit: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Newest first, keyed by id for cursor pagination; ``status`` as the member sees it."""
    stmt = (
        select(Coupon, Store.code)
        .outerjoin(Store, Store.id == Coupon.used_store_id)
        .where(Coupon.member_id == member_id)
        .order_by(Coupon.id.desc())
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(_status_filter(status, now))
    if before is not None:
        stmt = stmt.where(Coupon.id < before)
    return [coupon_json(c, code, now) for c, code in session.execute(stmt)]


# --- the report ------------------------------------------------------------------------------


def coupon_report(session: Session, program_id: int, now: datetime) -> dict[str, Any]:
    """Per template: issued, used, expired (including issued ones past their window), voided,
    the usage rate (used / issued) and the discount given; one grouped query."""

    def count_if(cond: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    expired = _status_filter("expired", now)
    stmt = (
        select(
            CouponTemplate.id,
            CouponTemplate.name,
            CouponTemplate.name_en,
            func.count(Coupon.id),
            count_if(Coupon.status == "used"),
            count_if(expired),
            count_if(Coupon.status == "voided"),
            func.coalesce(func.sum(Coupon.discount), 0),
        )
        .outerjoin(Coupon, Coupon.template_id == CouponTemplate.id)
        .where(CouponTemplate.program_id == program_id)
        .group_by(CouponTemplate.id, CouponTemplate.name, CouponTemplate.name_en)
        .order_by(CouponTemplate.id)
    )
    items = [_report_row(*row) for row in session.execute(stmt)]
    keys = ("issued", "used", "expired", "voided", "discount_given")
    totals = {k: sum(i[k] for i in items) for k in keys}
    totals["usage_rate"] = _rate(totals["used"], totals["issued"])
    return {"as_of": now.isoformat(), "templates": items, "totals": totals}


def _report_row(
    template_id: int,
    name: str,
    name_en: str | None,
    issued: int,
    used: int,
    expired: int,
    voided: int,
    discount: int,
) -> dict[str, Any]:
    used, issued = int(used), int(issued)
    return {
        "template_id": template_id,
        "name": name,
        "name_en": name_en,
        "issued": issued,
        "used": used,
        "expired": int(expired),
        "voided": int(voided),
        "outstanding": issued - used - int(expired) - int(voided),
        "usage_rate": _rate(used, issued),
        "discount_given": int(discount),
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
