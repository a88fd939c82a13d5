"""Console: the counter (核销台). A clerk types or scans a pickup or coupon code and sees at
once whether it is valid here; a second press hands the pickup over or uses the coupon.

The check changes nothing (``loyalty.rewards.counter.preview_pickup``, ``coupons.service.
check``); the confirmation calls the domain's own ``verify_code`` / ``coupons.service.redeem``,
which decide again under their locks, so two tills can never hand over one code twice. A
verification happens only at a store the clerk works for; a refused code shows the reason and
nothing of the member.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import now_factory, reading
from loyalty.coupons import service as coupons
from loyalty.coupons.models import Coupon
from loyalty.errors import LoyaltyError, PermissionDeniedError
from loyalty.members.models import Member
from loyalty.programs.service import get_program
from loyalty.rewards.counter import find_pickup, preview_pickup
from loyalty.rewards.models import Redemption, Reward
from loyalty.rewards.service import verify_code
from loyalty.stores.models import Store
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import console_write, require
from loyalty.web.console.mall_forms import FormReader, mask_name, mask_phone, stores_of, zone_of
from loyalty.web.i18n import N_
from loyalty.web.templating import render

router = APIRouter()
Clerk = Annotated[ConsoleIdentity, Depends(require("counter.verify"))]
PICKUP = re.compile(r"^\d{8}$")

UNKNOWN = N_("Unknown code: no pickup or coupon has this code")
NEED_AMOUNT = N_("Enter the order amount in yuan (e.g. 58.50) to use the coupon")
STATUS_REASONS = {
    "cancelled": N_("This redemption was cancelled; the points went back to the member"),
    "expired": N_("Not picked up in time: expired, the points went back to the member"),
    "completed": N_("This redemption is already completed"),
    "shipped": N_("This redemption is delivered by post, not picked up"),
}


@dataclass
class Verdict:
    """What the counter shows for one code: valid (and what it is) or why not."""

    code: str
    ok: bool
    kind: str = ""  # "pickup" or "coupon"
    done: bool = False  # handed over / used just now
    reason: str = ""  # an English msgid
    reason_code: str = ""
    used_at: datetime | None = None
    used_where: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


# --- pages -----------------------------------------------------------------------------------


@router.get("/console/counter")
def counter_page(request: Request, who: Clerk) -> Response:
    with reading(request) as session:
        stores = stores_of(session, who)
    return _page(request, stores, None, request.query_params.get("store"))


def _page(
    request: Request, stores: list[Store], verdict: Verdict | None, store_code: str | None
) -> Response:
    chosen = store_code or (stores[0].code if stores else "")
    context = {"stores": stores, "verdict": verdict, "store_code": chosen}
    return render(request, "console/counter.html", context)


def _answer(
    request: Request, who: ConsoleIdentity, verdict: Verdict, store: Store, status: int = 200
) -> Response:
    """The verdict alone for HTMX; the whole page (with the verdict) for a plain form post."""
    if request.headers.get("hx-request") == "true":
        context = {"verdict": verdict, "store_code": store.code}
        return render(request, "console/counter_verdict.html", context, status_code=status)
    with reading(request) as session:
        stores = stores_of(session, who)
    return _page(request, stores, verdict, store.code)


@router.post("/console/counter/check")
async def check(request: Request, who: Clerk) -> Response:
    form = await request.form()
    return await run_in_threadpool(_check, request, who, form)


@router.post("/console/counter/confirm")
async def confirm(request: Request, who: Clerk) -> Response:
    form = await request.form()
    return await run_in_threadpool(_confirm, request, who, form)


# --- check: nothing changes --------------------------------------------------------------------


def _check(request: Request, who: ConsoleIdentity, form: Any) -> Response:
    reader = FormReader(form, zone_of(request))
    code = normalise(reader.raw("code"))
    now = now_factory(request)()
    with reading(request) as session:
        store = _store(session, who, reader.raw("store"))
        verdict = _preview(session, who.program_id, code, store, now)
    if not verdict.ok:
        _audit_refusal(request, who, verdict, store)
    return _answer(request, who, verdict, store)


def normalise(code: str) -> str:
    """Scanners and people add spaces, dashes and lower case; codes have none."""
    return coupons.normalise_code(code)[:32]


def _store(session: Session, who: ConsoleIdentity, code: str) -> Store:
    """The counter's store: one the clerk works for (HQ roles: any active store)."""
    stores = stores_of(session, who)
    chosen = next((s for s in stores if s.code == code), None)
    if chosen is None and len(stores) == 1 and not code:
        chosen = stores[0]
    if chosen is None:
        raise PermissionDeniedError("choose one of your stores")
    return chosen


def _preview(session: Session, program_id: int, code: str, store: Store, now: datetime) -> Verdict:
    if not code:
        return Verdict(code, False, reason=UNKNOWN, reason_code="unknown")
    try:
        if PICKUP.match(code):
            return _pickup_verdict(session, preview_pickup(session, program_id, code, store))
        coupon = session.scalar(
            select(Coupon).where(Coupon.program_id == program_id, Coupon.code == code)
        )
        if coupon is None:
            return Verdict(code, False, reason=UNKNOWN, reason_code="unknown")
        _coupon_usable(session, coupon, store, now)
        return _coupon_verdict(session, coupon)
    except LoyaltyError as exc:
        return refused(session, program_id, code, exc)


def _coupon_usable(session: Session, coupon: Coupon, store: Store, now: datetime) -> None:
    """The coupon's state, window and store, checked by the coupon service itself; the order
    amount is asked for on confirmation (an order of exactly the minimum spend here)."""
    least = max(int(coupon.terms.get("min_spend") or 0), 1)
    result = coupons.check(session, coupon, coupons.Use(least, store.code), now)
    if not result.applies:
        coupons.raise_refusal(result)


# --- confirm: the domain service decides and changes -----------------------------------------


def _confirm(request: Request, who: ConsoleIdentity, form: Any) -> Response:
    reader = FormReader(form, zone_of(request))
    code = normalise(reader.raw("code"))
    with reading(request) as session:
        store = _store(session, who, reader.raw("store"))
    amount = None if PICKUP.match(code) else reader.fen("amount", required=True)
    if reader.errors:
        verdict = Verdict(code, False, reason=NEED_AMOUNT, reason_code="amount")
        return _answer(request, who, verdict, store, 422)
    try:
        verdict = console_write(
            request,
            who,
            "counter.verify",
            lambda session, now: _hand_over(session, who, code, store, amount, now),
            lambda v: (v.kind or "code", code),
            store_code=store.code,
            outcome="ok",
        )
    except LoyaltyError as exc:
        with reading(request) as session:
            verdict = refused(session, who.program_id, code, exc)
        _audit_refusal(request, who, verdict, store)
    return _answer(request, who, verdict, store)


def _hand_over(
    session: Session,
    who: ConsoleIdentity,
    code: str,
    store: Store,
    amount: int | None,
    now: datetime,
) -> Verdict:
    if amount is None:
        program = get_program(session, who.program_id)
        verify_code(session, program, code, store, now, f"console:{who.username}")
        redemption = find_pickup(session, who.program_id, code)
        assert redemption is not None  # verify_code found it
        verdict = _pickup_verdict(session, redemption)
    else:
        coupon = coupons.redeem(session, who.program_id, code, coupons.Use(amount, store.code), now)
        verdict = _coupon_verdict(session, coupon)
        verdict.facts["discount"] = coupon.discount or 0
        verdict.facts["amount"] = amount
    verdict.done = True
    return verdict


def _audit_refusal(request: Request, who: ConsoleIdentity, verdict: Verdict, store: Store) -> None:
    """A refused code is kept in the audit log too: who tried which code, where, and why."""

    def nothing(session: Session, now: datetime) -> None:
        return None

    console_write(
        request,
        who,
        "counter.verify",
        nothing,
        lambda _: ("code", verdict.code),
        store_code=store.code,
        outcome=verdict.reason_code or "refused",
    )


# --- verdicts --------------------------------------------------------------------------------


def _member_facts(session: Session, member_id: int) -> dict[str, Any]:
    member = session.get(Member, member_id)
    if member is None:
        return {}
    return {
        "member_name": mask_name(member.name),
        "member_phone": mask_phone(member.phone),
        "tier": member.tier_code,
    }


def _pickup_verdict(session: Session, r: Redemption) -> Verdict:
    reward = session.get(Reward, r.reward_id)
    facts = {
        "what": reward.name if reward else "",
        "quantity": r.quantity,
        "points": r.points,
        "cash_due": r.cash_due,
        "pickup_until": r.pickup_until,
        "redemption_id": r.redemption_id,
        **_member_facts(session, r.member_id),
    }
    return Verdict(r.pickup_code or "", True, "pickup", facts=facts)


def _coupon_verdict(session: Session, c: Coupon) -> Verdict:
    terms = c.terms
    facts = {
        "what": terms.get("name") or "",
        "coupon_kind": terms.get("kind"),
        "amount_off": terms.get("amount_off"),
        "percent_off": terms.get("percent_off"),
        "max_discount": terms.get("max_discount"),
        "min_spend": int(terms.get("min_spend") or 0),
        "valid_until": c.valid_until,
        **_member_facts(session, c.member_id),
    }
    return Verdict(c.code, True, "coupon", facts=facts)


def refused(session: Session, program_id: int, code: str, exc: LoyaltyError) -> Verdict:
    """Why not, from the domain's error; the member stays hidden."""
    extra = exc.extra
    verdict = Verdict(code, False, reason=exc.title, reason_code=exc.code)
    if exc.code == "invalid_status":
        status = str(extra.get("status_now") or "")
        verdict.reason = STATUS_REASONS.get(status, exc.title)
    if exc.code in ("redemption_not_found", "coupon_not_found"):
        verdict.reason = UNKNOWN
    if extra.get("used_at"):
        verdict.used_at = datetime.fromisoformat(str(extra["used_at"]))
        verdict.used_where = _store_name(session, program_id, extra.get("used_store_code"))
    for key in ("valid_until", "valid_from"):
        if extra.get(key):
            verdict.facts[key] = datetime.fromisoformat(str(extra[key]))
    if "min_spend" in extra:
        verdict.facts["min_spend"] = extra["min_spend"]
    return verdict


def _store_name(session: Session, program_id: int, code: object) -> str:
    if not code:
        return ""
    stmt = select(Store.name).where(Store.program_id == program_id, Store.code == str(code))
    name = session.scalar(stmt)
    return name or str(code)
