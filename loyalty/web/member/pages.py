"""The member's home (balance, expiring points, tier, check-in), history and profile."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from loyalty.api.deps import now_factory, reading
from loyalty.ledger.queries import ledger_page, points_view
from loyalty.lotteries.open import open_lotteries
from loyalty.notifications.sms import mask_phone
from loyalty.rewards.choices import AddressFields, addresses, save_address
from loyalty.rewards.qr import qr_png
from loyalty.stores.models import Store
from loyalty.tasks.checkin import check_in, check_in_state
from loyalty.tiers.service import program_tiers, progress
from loyalty.web.member.deps import Me, load_member, member_write, program_of
from loyalty.web.member.views import entry_view, localised, parse_time, tier_card
from loyalty.web.templating import render, request_locale, translate

router = APIRouter()
PAGE_SIZE = 20


@router.get("/m")
def home(request: Request, me: Me) -> Response:
    now = now_factory(request)()
    locale = request_locale(request)
    with reading(request) as session:
        program = program_of(session, me)
        member = load_member(session, me)
        points = points_view(session, member, now)
        tier = tier_card(
            progress(session, program, member, now),
            program_tiers(session, program),
            locale,
            lambda message, **values: translate(request, message, **values),
        )
        checkin = check_in_state(session, program, member.id, now)
        lotteries = open_lotteries(session, program.id, now)
    soonest = points["expiring"][0] if points["expiring"] else None
    context = {
        "member": member,
        "points": points,
        "expiring": soonest and {**soonest, "at": parse_time(soonest["expires_at"])},
        "tier": tier,
        "checkin": checkin,
        "checkin_name": checkin and localised(checkin.task, locale),
        "lottery_count": len(lotteries),
    }
    return render(request, "member/home.html", context)


@router.post("/m/check-in")
def post_check_in(request: Request, me: Me) -> Response:
    """Check in for today: a second tap the same day awards nothing more."""
    member_write(
        request, lambda session, now: check_in(session, program_of(session, me), me.member_id, now)
    )
    return RedirectResponse("/m#checkin", status_code=303)


@router.get("/m/history")
def history(
    request: Request, me: Me, before: Annotated[int | None, Query(ge=1, le=2**62)] = None
) -> Response:
    """Newest first, with the reason for every point; "more" loads the next page in place."""
    locale = request_locale(request)
    with reading(request) as session:
        member = load_member(session, me)
        rows = ledger_page(session, member.id, before, PAGE_SIZE + 1)
        query = select(Store.code, Store.name).where(Store.program_id == me.program_id)
        stores = {code: name for code, name in session.execute(query)}
    entries = [entry_view(e, stores, locale) for e in rows[:PAGE_SIZE]]
    context = {
        "member": member,
        "entries": entries,
        "more": entries[-1]["id"] if len(rows) > PAGE_SIZE else None,
    }
    is_htmx = request.headers.get("hx-request") == "true"
    template = "member/_history_rows.html" if is_htmx and before else "member/history.html"
    return render(request, template, context)


@router.get("/m/me")
def profile(request: Request, me: Me) -> Response:
    with reading(request) as session:
        context = _profile_context(request, session, me)
    return render(request, "member/me.html", context)


def _profile_context(request: Request, session: Any, me: Any) -> dict[str, Any]:
    member = load_member(session, me)
    program = program_of(session, me)
    tier = progress(session, program, member, now_factory(request)())
    return {
        "member": member,
        "phone": mask_phone(member.phone) if member.phone else "",
        "tier_name": localised(tier, request_locale(request)),
        "referral_link": _referral_link(request, member.referral_code),
        "addresses": addresses(session, member.id),
    }


def _referral_link(request: Request, code: str) -> str:
    return str(request.base_url).rstrip("/") + f"/m/login?ref={code}"


@router.get("/m/me/referral.png")
def referral_qr(request: Request, me: Me) -> Response:
    """The member's invitation link as a QR code a friend scans to join."""
    with reading(request) as session:
        code = load_member(session, me).referral_code
    return Response(qr_png(_referral_link(request, code)), media_type="image/png")


Text = Annotated[str, Form(min_length=1, max_length=200)]


@router.post("/m/me/address")
def post_address(
    request: Request,
    me: Me,
    recipient: Annotated[str, Form(min_length=1, max_length=40)],
    phone: Annotated[str, Form(min_length=5, max_length=20)],
    region: Annotated[str, Form(min_length=1, max_length=80)],
    detail: Text,
) -> Response:
    """Save the delivery address redemptions are sent to (it becomes the default)."""
    fields = AddressFields(recipient.strip(), phone.strip(), region.strip(), detail.strip())
    member_write(
        request,
        lambda session, now: save_address(session, load_member(session, me), fields, now),
    )
    back = request.query_params.get("back", "")
    target = back if back.startswith("/m/rewards/") and "//" not in back else "/m/me#address"
    return RedirectResponse(target, status_code=303)
