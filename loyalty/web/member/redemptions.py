"""My redemptions: the list, one redemption (its pickup QR code, delivery or coupon code again),
and the done page that ends the three steps of redeeming.

Pages are addressed by the redemption's row id, as the console does: a redemption made at the
till may carry an id of the till's (``POS/2026/001``) that cannot stand in a path.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from loyalty.api.deps import reading
from loyalty.members.login import MemberIdentity
from loyalty.rewards.listing import member_redemptions
from loyalty.rewards.models import Redemption, Reward
from loyalty.rewards.qr import qr_png
from loyalty.rewards.service import RedemptionNotFoundError
from loyalty.stores.models import Store
from loyalty.web.member.deps import Me, load_member
from loyalty.web.member.views import redemption_view
from loyalty.web.templating import render, request_locale

router = APIRouter()
RowId = Annotated[int, Path(ge=1, le=2**62)]
PAGE_SIZE = 20


@router.get("/m/redemptions")
def my_redemptions(
    request: Request, me: Me, before: Annotated[int | None, Query(ge=1, le=2**62)] = None
) -> Response:
    """Newest first, each with its status; "more" loads the next page in place."""
    locale = request_locale(request)
    with reading(request) as session:
        member = load_member(session, me)
        rows = member_redemptions(session, member.id, PAGE_SIZE + 1, before)
    shown = [redemption_view(r, reward, locale) for r, reward in rows[:PAGE_SIZE]]
    context = {
        "member": member,
        "redemptions": shown,
        "more": shown[-1]["id"] if len(rows) > PAGE_SIZE else None,
    }
    is_htmx = request.headers.get("hx-request") == "true"
    template = "member/_redemption_rows.html" if is_htmx and before else "member/redemptions.html"
    return render(request, template, context)


def _own_redemption(session: Session, me: MemberIdentity, row_id: int) -> Redemption:
    """The member's own redemption; another member's is not found, exactly like a missing one."""
    found = session.get(Redemption, row_id)
    if found is None or found.program_id != me.program_id or found.member_id != me.member_id:
        raise RedemptionNotFoundError(f"redemption {row_id} does not exist")
    return found


def _context(request: Request, session: Session, me: MemberIdentity, row_id: int) -> dict[str, Any]:
    redemption = _own_redemption(session, me, row_id)
    reward = session.get(Reward, redemption.reward_id)
    store = session.get(Store, redemption.store_id) if redemption.store_id else None
    view = redemption_view(
        redemption, reward, request_locale(request), store.name if store else None
    )
    return {"member": load_member(session, me), "r": view}


@router.get("/m/redemptions/{row_id}")
def redemption(request: Request, me: Me, row_id: RowId) -> Response:
    """One redemption: the pickup QR code while it waits, the delivery and its state, or the
    coupon code."""
    with reading(request) as session:
        context = _context(request, session, me, row_id)
    return render(request, "member/redemption.html", context)


@router.get("/m/redemptions/{row_id}/done")
def done(request: Request, me: Me, row_id: RowId) -> Response:
    """Step 3 done: points deducted, the new balance, the pickup QR code or the address."""
    with reading(request) as session:
        context = _context(request, session, me, row_id)
    return render(request, "member/done.html", context)


@router.get("/m/redemptions/{row_id}/qr.png")
def pickup_qr(request: Request, me: Me, row_id: RowId) -> Response:
    """The pickup code as a QR code the counter scans: the member's own, while it waits (a
    code collected, cancelled or expired scans as nothing: 404)."""
    with reading(request) as session:
        found = _own_redemption(session, me, row_id)
    if not found.pickup_code or found.status != "pending":
        raise RedemptionNotFoundError(f"redemption {row_id} has no pickup code to show")
    return Response(qr_png(found.pickup_code), media_type="image/png")
