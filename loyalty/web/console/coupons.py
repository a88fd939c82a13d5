"""Console: coupon templates, issuing coupons (to one member or a whole segment), the issued
coupons with their state, and voiding. Every change calls ``loyalty.coupons`` services inside
``console_write``; the terms are validated by the API's own ``TemplateIn``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, NoReturn
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import now_factory, reading
from loyalty.coupons import service
from loyalty.coupons.listing import CouponFilter, CouponRow, all_coupons, coupons, segment_choices
from loyalty.coupons.models import CouponTemplate
from loyalty.coupons.queries import coupon_report, effective_status
from loyalty.coupons.schemas import TemplateIn
from loyalty.coupons.templates import (
    FIELDS,
    create_template,
    get_template,
    list_templates,
    template_fields,
    update_template,
)
from loyalty.errors import InvalidRequestError, LoyaltyError, PermissionDeniedError
from loyalty.members.identifiers import normalise_identifier
from loyalty.members.service import lookup
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import console_write, require
from loyalty.web.console.mall_forms import (
    FormReader,
    all_stores,
    day_range,
    local_value,
    mask_phone,
    zone_of,
)
from loyalty.web.exports import export_response
from loyalty.web.i18n import N_
from loyalty.web.templating import render, translate

router = APIRouter()
Viewer = Annotated[ConsoleIdentity, Depends(require("mall.view"))]
Editor = Annotated[ConsoleIdentity, Depends(require("mall.edit"))]
TemplateId = Annotated[int, Path(ge=1, le=2**62)]
PAGE = 50

STATUS_NAMES = {
    "issued": N_("Usable"),
    "used": N_("Used"),
    "expired": N_("Expired"),
    "voided": N_("Voided"),
}
STATUS_BADGES = {"issued": "ok", "used": "", "expired": "warn", "voided": "bad"}
SOURCE_NAMES = {
    "reward": N_("Points mall"),
    "redemption": N_("Points mall"),
    "campaign": N_("Campaign"),
    "bulk": N_("Bulk issue"),
    "lottery": N_("Lottery"),
    "manual": N_("Issued by staff"),
}
# The API's validation messages, in the operator's words.
TERMS_PROBLEMS = {
    "give either valid_days or valid_until": N_(
        "Give either the days a coupon stays valid, or an end date"
    ),
    "valid_from goes with valid_until": N_("A start date needs an end date, not days valid"),
    "valid_from must be before valid_until": N_("The start must be before the end"),
    "amount_off needs amount_off": N_("Enter the amount off"),
    "percent_off needs percent_off": N_("Enter the percent off"),
}


# The template fields the form edits; the others (store groups, issuing on or off) it keeps.
FORM_FIELDS = tuple(f for f in FIELDS if f not in ("store_groups", "active"))


# --- templates -------------------------------------------------------------------------------


@router.get("/console/coupons")
def coupons_page(request: Request, who: Viewer) -> Response:
    now = now_factory(request)()
    with reading(request) as session:
        context = {
            "report": coupon_report(session, who.program_id, now)["templates"],
            "segments": segment_choices(session, who.program_id),
            "active": {t.id: t.active for t in list_templates(session, who.program_id, 0, 1000)},
            "issue_id": secrets.token_hex(8),
            "done": request.query_params.get("done"),
            "count": request.query_params.get("n"),
        }
    return render(request, "console/coupons.html", context)


@router.get("/console/coupons/new")
def new_template(request: Request, who: Editor) -> Response:
    return _template_form(request, who, {"kind": "amount_off", "valid_days": "30"}, {})


def _template_form(
    request: Request,
    who: ConsoleIdentity,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    template_id: int | None = None,
) -> Response:
    with reading(request) as session:
        stores = all_stores(session, who.program_id)
        template = get_template(session, who.program_id, template_id) if template_id else None
        issued = template.issued_count if template else 0
    context = {
        "values": values,
        "errors": errors,
        "stores": stores,
        "template_id": template_id,
        "issued": issued,
    }
    return render(request, "console/coupons_template_form.html", context, status_code=status)


@router.post("/console/coupons/templates")
async def create(request: Request, who: Editor) -> Response:
    form = await request.form()
    return await run_in_threadpool(_save, request, who, form, None)


@router.get("/console/coupons/templates/{template_id}")
def edit_template(request: Request, who: Editor, template_id: TemplateId) -> Response:
    with reading(request) as session:
        template = get_template(session, who.program_id, template_id)
        values = _values_of(template, zone_of(request))
    return _template_form(request, who, values, {}, template_id=template_id)


@router.post("/console/coupons/templates/{template_id}")
async def change(request: Request, who: Editor, template_id: TemplateId) -> Response:
    """Change a template's terms; coupons already issued keep the terms and validity they
    were issued with (each coupon holds its own copy)."""
    form = await request.form()
    return await run_in_threadpool(_save, request, who, form, template_id)


def _save(request: Request, who: ConsoleIdentity, form: Any, template_id: int | None) -> Response:
    reader = FormReader(form, zone_of(request))
    typed = _read_terms(reader)
    echo = {**dict(form), "store_codes": form.getlist("store_codes")}
    if reader.errors:
        return _template_form(request, who, echo, reader.errors, 422, template_id)

    def work(session: Session, now: datetime) -> CouponTemplate:
        if template_id is None:
            return create_template(session, who.program_id, _validated(typed), now)
        template = get_template(session, who.program_id, template_id)
        # Fields the form does not show (store groups, issuing on or off) stay as they are.
        kept = {**template_fields(template), **dict.fromkeys(FORM_FIELDS), **typed}
        return update_template(session, template, _validated(kept), now)

    action = "coupon_template.create" if template_id is None else "coupon_template.update"
    try:
        console_write(
            request,
            who,
            action,
            work,
            lambda t: ("coupon_template", t.id),
            name=typed.get("name"),
        )
    except TermsError as exc:
        return _template_form(request, who, echo, _problems(exc.problem), 422, template_id)
    except LoyaltyError as exc:
        errors = {"_form": translate(request, exc.title) + ": " + exc.detail}
        return _template_form(request, who, echo, errors, exc.status, template_id)
    done = "template" if template_id is None else "edited"
    return RedirectResponse(f"/console/coupons?done={done}", status_code=303)


class TermsError(Exception):
    """The form's terms, each readable, do not hold together (as ``TemplateIn`` says); the
    change is rolled back and the form shown again."""

    def __init__(self, problem: ValidationError) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _validated(fields: dict[str, Any]) -> dict[str, Any]:
    """The terms checked by the API's own ``TemplateIn``, for a new template or a change."""
    try:
        return TemplateIn.model_validate(fields).fields()
    except ValidationError as exc:
        raise TermsError(exc) from exc


def _values_of(template: CouponTemplate, zone: ZoneInfo) -> dict[str, Any]:
    """The form's values for a template: money in yuan, times in local time."""

    def yuan(fen: int | None) -> str:
        return "" if fen is None else f"{fen // 100}.{fen % 100:02d}"

    def plain(value: int | None) -> str:
        return "" if value is None else str(value)

    return {
        "name": template.name,
        "name_en": template.name_en or "",
        "kind": template.kind,
        "amount_off": yuan(template.amount_off),
        "percent_off": plain(template.percent_off),
        "max_discount": yuan(template.max_discount),
        "min_spend": yuan(template.min_spend) if template.min_spend else "",
        "valid_days": plain(template.valid_days),
        "valid_from": local_value(template.valid_from, zone),
        "valid_until": local_value(template.valid_until, zone),
        "issue_limit": plain(template.issue_limit),
        "categories": ", ".join(template.categories or ()),
        "store_codes": list(template.store_codes or ()),
    }


def _read_terms(f: FormReader) -> dict[str, Any]:
    kind = f.choice("kind", ("amount_off", "percent_off"), "amount_off")
    fields: dict[str, Any] = {
        "name": f.text("name", 120, required=True),
        "name_en": f.text("name_en", 120),
        "kind": kind,
        "amount_off": f.fen("amount_off", required=kind == "amount_off"),
        "percent_off": f.integer("percent_off", 1, 100, required=kind == "percent_off"),
        "max_discount": f.fen("max_discount"),
        "min_spend": f.fen("min_spend") or 0,
        "valid_days": f.integer("valid_days", 1, 3650),
        "valid_from": f.moment("valid_from"),
        "valid_until": f.moment("valid_until"),
        "store_codes": f.many("store_codes")[:500],
        "categories": [c for c in (f.text("categories", 1000) or "").replace("，", ",").split(",")],
        "issue_limit": f.integer("issue_limit", 1, 1_000_000_000),
    }
    fields["categories"] = [c.strip() for c in fields["categories"] if c.strip()][:100]
    if kind == "amount_off":
        fields["percent_off"] = fields["max_discount"] = None
    else:
        fields["amount_off"] = None
    if fields["amount_off"] == 0:
        f.fail("amount_off", N_("Out of range"))
    return {k: v for k, v in fields.items() if v is not None}


def _problems(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for e in exc.errors(include_context=False):
        loc = str(e["loc"][0]) if e["loc"] else "_form"
        message = next((m for k, m in TERMS_PROBLEMS.items() if k in e["msg"]), None)
        errors.setdefault(loc, message or N_("Invalid value"))
    return errors


@router.post("/console/coupons/templates/{template_id}/active")
def toggle_active(request: Request, who: Editor, template_id: TemplateId) -> Response:
    """Stop issuing a template (coupons already issued stay usable), or start again."""

    def work(session: Session, now: datetime) -> bool:
        template = get_template(session, who.program_id, template_id)
        update_template(session, template, {"active": not template.active}, now)
        return template.active

    active = console_write(
        request,
        who,
        "coupon_template.active",
        work,
        lambda _: ("coupon_template", template_id),
    )
    return RedirectResponse(f"/console/coupons?done={'on' if active else 'off'}", 303)


# --- issuing ---------------------------------------------------------------------------------


@router.post("/console/coupons/issue")
async def issue(request: Request, who: Editor) -> Response:
    form = await request.form()
    return await run_in_threadpool(_issue, request, who, form)


def _issue(request: Request, who: ConsoleIdentity, form: Any) -> Response:
    """One coupon to the member with this phone number; the form's ``issue_id`` makes a
    double click issue it once."""
    reader = FormReader(form, zone_of(request))
    template_id = reader.integer("template_id", 1, 2**62, required=True)
    phone = reader.text("phone", 40, required=True)
    issue_id = reader.text("issue_id", 64) or secrets.token_hex(8)
    if reader.errors or template_id is None or phone is None:
        raise_bad_form(reader)

    def work(session: Session, now: datetime) -> Any:
        member = lookup(session, who.program_id, *normalise_identifier("phone", phone))
        return service.issue_once(
            session, who.program_id, member.id, template_id, f"console-{issue_id}", now
        )

    coupon = console_write(
        request, who, "coupon.issue", work, lambda c: ("coupon", c.code), template_id=template_id
    )
    return RedirectResponse(f"/console/coupons/issued?code={coupon.code}", status_code=303)


def raise_bad_form(reader: FormReader) -> NoReturn:
    name, message = next(iter(reader.errors.items()), ("form", "Required"))
    raise InvalidRequestError(f"{name}: {message}", field=name)


@router.post("/console/coupons/bulk")
async def bulk(request: Request, who: Editor) -> Response:
    form = await request.form()
    return await run_in_threadpool(_bulk, request, who, form)


def _bulk(request: Request, who: ConsoleIdentity, form: Any) -> Response:
    """One coupon to every active member carrying a tag; all or nothing."""
    reader = FormReader(form, zone_of(request))
    template_id = reader.integer("template_id", 1, 2**62, required=True)
    segment = reader.text("segment", 64, required=True)
    if reader.errors or template_id is None or segment is None:
        raise_bad_form(reader)
    bulk_id = f"console-{secrets.token_hex(6)}"

    def work(session: Session, now: datetime) -> int:
        return service.issue_bulk(
            session, who.program_id, template_id, now, segment=segment, source_id=bulk_id
        )

    issued = console_write(
        request,
        who,
        "coupon.bulk",
        work,
        lambda _: ("coupon_template", template_id),
        segment=segment,
        bulk_id=bulk_id,
    )
    return RedirectResponse(f"/console/coupons?done=bulk&n={issued}", status_code=303)


# --- issued coupons --------------------------------------------------------------------------


@router.get("/console/coupons/issued")
def issued_page(request: Request, who: Viewer) -> Response:
    q = request.query_params
    now = now_factory(request)()
    with reading(request) as session:
        f = _filter(session, request, who)
        if q.get("format"):
            return _export(request, who, f, now, q["format"])
        before = int(q["before"]) if q.get("before", "").isdigit() else None
        rows = coupons(session, who.program_id, f, now, PAGE, before)
        report = coupon_report(session, who.program_id, now)["templates"]
    context = {
        "rows": rows,
        "q": q,
        "templates": report,
        "now": now,
        "query": urlencode({k: q[k] for k in ("status", "template", "phone", "code") if q.get(k)}),
        "next_before": rows[-1].coupon.id if len(rows) == PAGE else None,
        **_names(now),
    }
    return render(request, "console/coupons_issued.html", context)


def _names(now: datetime) -> dict[str, Any]:
    return {
        "status_names": STATUS_NAMES,
        "status_badges": STATUS_BADGES,
        "source_names": SOURCE_NAMES,
        "mask_phone": mask_phone,
        "status_of": lambda c: effective_status(c, now),
    }


def _filter(session: Session, request: Request, who: ConsoleIdentity) -> CouponFilter:
    q = request.query_params
    member_id = None
    if q.get("phone"):
        try:
            member = lookup(session, who.program_id, *normalise_identifier("phone", q["phone"]))
            member_id = member.id
        except LoyaltyError:
            member_id = -1  # nobody: an empty list
    start, end = day_range(q.get("from"), q.get("to"), zone_of(request))
    template = q.get("template", "")
    return CouponFilter(
        status=q.get("status") if q.get("status") in STATUS_NAMES else None,
        template_id=int(template) if template.isdigit() and len(template) < 19 else None,
        member_id=member_id,
        code=service.normalise_code(q["code"]) if q.get("code") else None,
        start=start,
        end=end,
    )


def _export(
    request: Request, who: ConsoleIdentity, f: CouponFilter, now: datetime, fmt: str
) -> Response:
    if not who.can("export"):
        raise PermissionDeniedError("this role may not export")

    def t(message: str) -> str:
        return translate(request, message)

    header = [
        N_("Voucher code"),
        N_("Coupon"),
        N_("Member no."),
        N_("Member"),
        N_("Mobile"),
        N_("Status"),
    ]
    header += [N_("Issued"), N_("Valid until"), N_("Used"), N_("Used at"), N_("Discount (fen)")]
    header += [N_("Source")]

    def body() -> Iterator[list[Any]]:
        with reading(request) as session:
            for row in all_coupons(session, who.program_id, f, now):
                yield _export_row(row, now, t)

    return export_response(fmt, "coupons", [t(h) for h in header], body())


def _export_row(row: CouponRow, now: datetime, t: Callable[[str], str]) -> list[Any]:
    c = row.coupon
    status = effective_status(c, now)
    return [
        c.code,
        c.terms.get("name"),
        row.member_no,
        row.member_name,
        mask_phone(row.member_phone),
        t(STATUS_NAMES.get(status, status)),
        c.issued_at,
        c.valid_until,
        c.used_at,
        row.used_store_name,
        c.discount,
        t(SOURCE_NAMES.get(c.source_type, c.source_type)),
    ]


@router.post("/console/coupons/{code}/void")
async def void(request: Request, who: Editor, code: str) -> Response:
    form = await request.form()
    reason = form.get("reason")
    text = reason.strip()[:255] if isinstance(reason, str) and reason.strip() else None
    return await run_in_threadpool(_void, request, who, code[:32], text)


def _void(request: Request, who: ConsoleIdentity, code: str, reason: str | None) -> Response:
    coupon = console_write(
        request,
        who,
        "coupon.void",
        lambda session, now: service.void(session, who.program_id, code, reason, now),
        lambda c: ("coupon", c.code),
        reason=reason,
    )
    return RedirectResponse(f"/console/coupons/issued?code={coupon.code}", status_code=303)
