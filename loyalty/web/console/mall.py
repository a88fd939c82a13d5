"""Console: the points mall's rewards (catalog, shelf, stock).

Every change goes through ``loyalty.rewards.catalog`` (the API's services) inside
``console_write``, so it is validated once and audited in its own transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import now_factory, reading
from loyalty.coupons.models import CouponTemplate
from loyalty.errors import LoyaltyError, PermissionDeniedError
from loyalty.programs.service import get_program
from loyalty.rewards.catalog import get_reward, list_rewards, save_reward, set_store_stock
from loyalty.rewards.listing import stock_by_store
from loyalty.rewards.models import FULFILMENTS, KINDS, Reward
from loyalty.stores.service import get_store
from loyalty.tiers.service import program_tiers
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import console_write, require
from loyalty.web.console.mall_forms import FormReader, all_stores, local_value, zone_of
from loyalty.web.exports import export_response
from loyalty.web.i18n import N_
from loyalty.web.templating import render, translate

router = APIRouter()
Viewer = Annotated[ConsoleIdentity, Depends(require("mall.view"))]
Editor = Annotated[ConsoleIdentity, Depends(require("mall.edit"))]
RewardId = Annotated[int, Path(ge=1, le=2**62)]

KIND_NAMES = {
    "gift": N_("Gift"),
    "coupon": N_("Coupon"),
    "stored_value": N_("Stored value"),
    "service": N_("Service"),
}
FULFILMENT_NAMES = {
    "pickup": N_("Store pickup"),
    "delivery": N_("Delivery"),
    "instant": N_("Instant"),
}
SHELF_NAMES = {"on": N_("On shelf"), "off": N_("Off shelf")}


# --- the list ------------------------------------------------------------------------------


@router.get("/console/rewards")
def rewards_page(request: Request, who: Viewer, format: str | None = None) -> Response:
    if format:
        return _export(request, who, format)
    with reading(request) as session:
        context = _list_context(session, who.program_id, now_factory(request)())
    saved = request.query_params.get("saved")
    return render(request, "console/mall_rewards.html", {**context, "saved": saved})


def _list_context(session: Session, program_id: int, now: datetime) -> dict[str, Any]:
    program = get_program(session, program_id)
    return {
        "rewards": list_rewards(session, program_id),
        "store_stock": stock_by_store(session, program_id),
        "tier_names": {t.code: t.name for t in program_tiers(session, program)},
        "now": now,
        **_names(),
    }


def _names() -> dict[str, Any]:
    return {
        "kind_names": KIND_NAMES,
        "fulfilment_names": FULFILMENT_NAMES,
        "shelf_names": SHELF_NAMES,
    }


def _export(request: Request, who: ConsoleIdentity, fmt: str) -> Response:
    if not who.can("export"):
        raise PermissionDeniedError("this role may not export")
    with reading(request) as session:
        rows = list_rewards(session, who.program_id)
        stock = stock_by_store(session, who.program_id)

    def t(message: str) -> str:
        return translate(request, message)

    header = [N_("ID"), N_("Name"), N_("Type"), N_("Points price"), N_("Cash (fen)"), N_("Stock")]
    header += [N_("Stock per store"), N_("Shelf"), N_("Available from"), N_("Available until")]
    header += [N_("Tiers"), N_("Times redeemed")]
    body = (
        [
            r.id,
            r.name,
            t(KIND_NAMES.get(r.kind, r.kind)),
            r.points_price,
            r.cash_price,
            r.stock,
            " ".join(f"{code}:{n}" for code, n in stock.get(r.id, {}).items()),
            t(SHELF_NAMES.get(r.status, r.status)),
            r.available_from,
            r.available_until,
            " ".join(r.tiers or []),
            r.redeemed_count,
        ]
        for r in rows
    )
    return export_response(fmt, "rewards", [t(h) for h in header], body)


# --- create and edit -----------------------------------------------------------------------


@router.get("/console/rewards/new")
def new_reward(request: Request, who: Editor) -> Response:
    return _form_page(request, who, None, {}, {})


@router.get("/console/rewards/{reward_id}")
def edit_reward(request: Request, who: Viewer, reward_id: RewardId) -> Response:
    with reading(request) as session:
        reward = get_reward(session, who.program_id, reward_id)
    return _form_page(request, who, reward, _values_of(reward, request), {})


@router.post("/console/rewards")
async def create_reward(request: Request, who: Editor) -> Response:
    form = await request.form()
    return await run_in_threadpool(_save, request, who, None, form)


@router.post("/console/rewards/{reward_id}")
async def update_reward(request: Request, who: Editor, reward_id: RewardId) -> Response:
    form = await request.form()
    return await run_in_threadpool(_save, request, who, reward_id, form)


def _save(request: Request, who: ConsoleIdentity, reward_id: int | None, form: Any) -> Response:
    reader = FormReader(form, zone_of(request))
    data = _read_reward(reader)
    if reader.errors:
        return _form_page(request, who, None, _echo(form), reader.errors, reward_id, 422)

    def work(session: Session, now: datetime) -> Reward:
        reward = get_reward(session, who.program_id, reward_id, lock=True) if reward_id else None
        return save_reward(session, who.program_id, data, now, reward)

    try:
        saved = console_write(
            request, who, "reward.save", work, lambda r: ("reward", r.id), name=data["name"]
        )
    except LoyaltyError as exc:
        field = str(exc.extra.get("field") or "_form")
        errors = {field: translate(request, exc.title) + ": " + exc.detail}
        return _form_page(request, who, None, _echo(form), errors, reward_id, exc.status)
    return RedirectResponse(f"/console/rewards?saved={saved.id}", status_code=303)


def _echo(form: Any) -> dict[str, Any]:
    """What was typed, to show the form again with its errors."""
    return {**dict(form), "tiers": form.getlist("tiers")}


def _read_reward(f: FormReader) -> dict[str, Any]:
    """The reward's fields from the form; money typed in yuan, times in local time."""
    data: dict[str, Any] = {
        "name": f.text("name", 80, required=True),
        "name_en": f.text("name_en", 80),
        "description": f.text("description", 500),
        "category": f.text("category", 40),
        "kind": f.choice("kind", KINDS, "gift"),
        "image_url": _image_url(f),
        "points_price": f.integer("points_price", 0, 10**9, required=True),
        "cash_price": f.fen("cash_price") or 0,
        "allow_partial": f.flag("allow_partial"),
        "coupon_template_id": f.integer("coupon_template_id", 1, 2**62),
        "stored_value_amount": f.fen("stored_value_amount"),
        "stock": f.integer("stock", 0, 10**9),
        "limit_per_day": f.integer("limit_per_day", 1, 10**6),
        "limit_total": f.integer("limit_total", 1, 10**6),
        "tiers": f.many("tiers")[:20],
        "status": f.choice("status", ("on", "off"), "on"),
        "available_from": f.moment("available_from"),
        "available_until": f.moment("available_until"),
        "fulfilment": f.choice("fulfilment", FULFILMENTS, "pickup"),
        "pickup_days": f.integer("pickup_days", 1, 365) or 30,
    }
    if data["kind"] != "coupon":
        data["coupon_template_id"] = None
    if data["kind"] != "stored_value":
        data["stored_value_amount"] = None
    return data


def _image_url(f: FormReader) -> str | None:
    url = f.text("image_url", 500)
    if url and not url.startswith(("http://", "https://", "/")):
        f.fail("image_url", N_("Use an address starting with https:// or /"))
        return None
    return url


def _values_of(reward: Reward, request: Request) -> dict[str, Any]:
    """The form's values for an existing reward (money back in yuan, times in local time)."""
    zone = zone_of(request)

    def yuan(fen: int | None) -> str:
        return "" if not fen else f"{fen // 100}.{fen % 100:02d}"

    values: dict[str, Any] = {
        k: ("" if v is None else v)
        for k, v in vars(reward).items()
        if not k.startswith("_") and not isinstance(v, datetime)
    }
    values |= {
        "cash_price": yuan(reward.cash_price),
        "stored_value_amount": yuan(reward.stored_value_amount),
        "available_from": local_value(reward.available_from, zone),
        "available_until": local_value(reward.available_until, zone),
        "allow_partial": "1" if reward.allow_partial else "",
    }
    return values


def _form_page(
    request: Request,
    who: ConsoleIdentity,
    reward: Reward | None,
    values: dict[str, Any],
    errors: dict[str, str],
    reward_id: int | None = None,
    status: int = 200,
) -> Response:
    with reading(request) as session:
        if reward is None and reward_id:
            reward = get_reward(session, who.program_id, reward_id)
        program = get_program(session, who.program_id)
        context = {
            "reward": reward,
            "values": values,
            "errors": errors,
            "chosen_tiers": _chosen_tiers(values),
            "tiers": program_tiers(session, program),
            "template_options": [
                (t.id, t.name) for t in _coupon_templates(session, who.program_id)
            ],
            "stores": all_stores(session, who.program_id),
            "store_stock": stock_by_store(session, who.program_id).get(reward.id, {})
            if reward
            else {},
            **_names(),
        }
    return render(request, "console/mall_reward_form.html", context, status_code=status)


def _chosen_tiers(values: dict[str, Any]) -> list[str]:
    tiers = values.get("tiers")
    if isinstance(tiers, list):
        return [str(t) for t in tiers]
    return [str(tiers)] if tiers else []


def _coupon_templates(session: Session, program_id: int) -> list[CouponTemplate]:
    stmt = select(CouponTemplate).where(CouponTemplate.program_id == program_id)
    return list(session.scalars(stmt.order_by(CouponTemplate.id)))


# --- shelf and stock -------------------------------------------------------------------------


@router.post("/console/rewards/{reward_id}/shelf")
def toggle_shelf(request: Request, who: Editor, reward_id: RewardId) -> Response:
    """Put a reward on the shelf or take it off (the row is swapped in place)."""

    def work(session: Session, now: datetime) -> Reward:
        reward = get_reward(session, who.program_id, reward_id, lock=True)
        status = "off" if reward.status == "on" else "on"
        return save_reward(session, who.program_id, {"status": status}, now, reward)

    reward = console_write(
        request, who, "reward.shelf", work, lambda r: ("reward", r.id), reward_id=reward_id
    )
    if request.headers.get("hx-request") != "true":
        return RedirectResponse("/console/rewards", status_code=303)
    with reading(request) as session:
        context = _list_context(session, who.program_id, now_factory(request)())
    return render(request, "console/mall_reward_row.html", {**context, "r": reward})


@router.post("/console/rewards/{reward_id}/stock")
async def adjust_stock(request: Request, who: Editor, reward_id: RewardId) -> Response:
    form = await request.form()
    return await run_in_threadpool(_stock, request, who, reward_id, form)


def _stock(request: Request, who: ConsoleIdentity, reward_id: int, form: Any) -> Response:
    """Overall stock (blank: unlimited) and, optionally, one store's stock."""
    reader = FormReader(form, zone_of(request))
    overall = reader.integer("stock", 0, 10**9)
    store_code = reader.text("store_code", 32)
    store_stock = reader.integer("store_stock", 0, 10**9, required=bool(store_code))
    if reader.errors:
        return _form_page(request, who, None, {}, reader.errors, reward_id, 422)

    def work(session: Session, now: datetime) -> Reward:
        reward = get_reward(session, who.program_id, reward_id, lock=True)
        save_reward(session, who.program_id, {"stock": overall}, now, reward)
        if store_code and store_stock is not None:
            store = get_store(session, who.program_id, store_code)
            set_store_stock(session, reward, store, store_stock)
        return reward

    details = {"stock": overall, "store_code": store_code, "store_stock": store_stock}
    console_write(request, who, "reward.stock", work, lambda r: ("reward", r.id), **details)
    return RedirectResponse(f"/console/rewards/{reward_id}?stock=1", status_code=303)
