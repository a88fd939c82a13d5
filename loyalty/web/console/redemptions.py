"""Console: redemption orders and their lifecycle (hand over, ship, complete, cancel).

Store managers and clerks see only the pickups of their own stores. Every action calls the
points mall's service (``loyalty.rewards.service``) inside ``console_write``: cancelling gives
the points back with their original expiry and the stock back to the shelf.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import reading
from loyalty.errors import LoyaltyError, PermissionDeniedError
from loyalty.programs.service import get_program
from loyalty.rewards.listing import (
    STATUSES,
    RedemptionFilter,
    RedemptionRow,
    all_redemptions,
    redemption_row,
    redemptions,
)
from loyalty.rewards.models import Redemption
from loyalty.rewards.service import RedemptionNotFoundError, advance, cancel, verify_code
from loyalty.stores.models import Store
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import console_write, require, require_store
from loyalty.web.console.mall import FULFILMENT_NAMES
from loyalty.web.console.mall_forms import day_range, mask_phone, stores_of, zone_of
from loyalty.web.exports import export_response
from loyalty.web.i18n import N_
from loyalty.web.templating import render, translate

router = APIRouter()
Staff = Annotated[ConsoleIdentity, Depends(require("mall.fulfil"))]
RowId = Annotated[int, Path(ge=1, le=2**62)]
PAGE = 50

STATUS_NAMES = {
    "pending": N_("To pick up / ship"),
    "fulfilled": N_("Handed over"),
    "shipped": N_("Shipped"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired, points returned"),
}
STATUS_BADGES = {"pending": "warn", "fulfilled": "ok", "completed": "ok", "shipped": "ok"}
ACTIONS = ("fulfil", "ship", "complete", "cancel")


def actor_of(who: ConsoleIdentity) -> str:
    return f"console:{who.username}"


# --- the list --------------------------------------------------------------------------------


@router.get("/console/redemptions")
def redemptions_page(request: Request, who: Staff) -> Response:
    q = request.query_params
    with reading(request) as session:
        stores = stores_of(session, who)
        f = _filter(request, who, stores)
        if q.get("format"):
            return _export(request, who, f, q["format"])
        before = _int(q.get("before"))
        rows = redemptions(session, who.program_id, f, PAGE, before)
    context = {
        "rows": rows,
        "stores": stores,
        "q": q,
        "statuses": STATUSES,
        "next_before": rows[-1].redemption.id if len(rows) == PAGE else None,
        "query": _query_string(request),
        **_names(),
    }
    return render(request, "console/mall_redemptions.html", context)


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 19 else None


def _filter(request: Request, who: ConsoleIdentity, stores: list[Store]) -> RedemptionFilter:
    q = request.query_params
    start, end = day_range(q.get("from"), q.get("to"), zone_of(request))
    store = next((s for s in stores if s.code == q.get("store")), None)
    return RedemptionFilter(
        status=q.get("status") if q.get("status") in STATUSES else None,
        store_id=store.id if store else None,
        start=start,
        end=end,
        store_ids=who.store_ids if who.store_bound else None,
        code=(q.get("code") or "").strip() or None,
    )


def _query_string(request: Request) -> str:
    keep = ("status", "store", "from", "to", "code")
    q = request.query_params
    return urlencode({k: q[k] for k in keep if q.get(k)})


def _names() -> dict[str, Any]:
    return {
        "status_names": STATUS_NAMES,
        "status_badges": STATUS_BADGES,
        "fulfilment_names": FULFILMENT_NAMES,
        "mask_phone": mask_phone,
    }


def _export(request: Request, who: ConsoleIdentity, f: RedemptionFilter, fmt: str) -> Response:
    if not who.can("export"):
        raise PermissionDeniedError("this role may not export")

    def t(message: str) -> str:
        return translate(request, message)

    header = [N_("Redemption no."), N_("Ordered at"), N_("Member no."), N_("Member"), N_("Mobile")]
    header += [
        N_("Mall item"),
        N_("Quantity"),
        N_("Points"),
        N_("Cash due (fen)"),
        N_("Fulfilment"),
    ]
    header += [N_("Store"), N_("Status"), N_("Pickup code"), N_("Handed over"), N_("Tracking")]

    def body() -> Iterator[list[Any]]:
        with reading(request) as session:
            for row in all_redemptions(session, who.program_id, f):
                yield _export_row(row, t)

    return export_response(fmt, "redemptions", [t(h) for h in header], body())


def _export_row(row: RedemptionRow, t: Callable[[str], str]) -> list[Any]:
    r = row.redemption
    return [
        r.redemption_id,
        r.created_at,
        row.member_no,
        row.member_name,
        mask_phone(row.member_phone),
        row.reward_name,
        r.quantity,
        r.points,
        r.cash_due,
        t(FULFILMENT_NAMES.get(r.fulfilment, r.fulfilment)),
        row.store_name,
        t(STATUS_NAMES.get(r.status, r.status)),
        r.pickup_code,
        r.verified_at,
        r.tracking,
    ]


# --- the lifecycle ---------------------------------------------------------------------------


@router.post("/console/redemptions/{row_id}/{action}")
async def act(request: Request, who: Staff, row_id: RowId, action: str) -> Response:
    form = await request.form()
    tracking = form.get("tracking")
    text = tracking.strip()[:64] if isinstance(tracking, str) and tracking.strip() else None
    return await run_in_threadpool(_act, request, who, row_id, action, text)


def _act(
    request: Request, who: ConsoleIdentity, row_id: int, action: str, tracking: str | None
) -> Response:
    if action not in ACTIONS:
        raise RedemptionNotFoundError(f"no action {action!r}")

    def work(session: Session, now: datetime) -> dict[str, Any]:
        redemption = _visible(session, who, row_id)
        program = get_program(session, who.program_id)
        rid, actor = redemption.redemption_id, actor_of(who)
        if action == "fulfil":
            store = session.get(Store, redemption.store_id)
            if store is None or redemption.pickup_code is None:
                raise PermissionDeniedError("only store pickups are handed over")
            return verify_code(session, program, redemption.pickup_code, store, now, actor)
        if action == "cancel":
            return cancel(session, program, rid, now, actor)
        to = "shipped" if action == "ship" else "completed"
        return advance(session, program, rid, to, now, tracking)

    error: str | None = None
    try:
        console_write(request, who, f"redemption.{action}", work, lambda _: ("redemption", row_id))
    except LoyaltyError as exc:
        if request.headers.get("hx-request") != "true" or exc.status in (403, 404):
            raise
        error = translate(request, exc.title)
    if request.headers.get("hx-request") != "true":
        return RedirectResponse("/console/redemptions", status_code=303)
    return _row_fragment(request, who, row_id, error)


def _visible(session: Session, who: ConsoleIdentity, row_id: int) -> Redemption:
    """The redemption, if this user may act on it (store-bound users: their stores only)."""
    redemption = session.get(Redemption, row_id)
    if redemption is None or redemption.program_id != who.program_id:
        raise RedemptionNotFoundError(f"redemption {row_id} does not exist")
    require_store(who, redemption.store_id)
    return redemption


def _row_fragment(
    request: Request, who: ConsoleIdentity, row_id: int, error: str | None
) -> Response:
    with reading(request) as session:
        row = redemption_row(session, who.program_id, row_id)
    if row is None or not who.sees_store(row.redemption.store_id):
        raise RedemptionNotFoundError(f"redemption {row_id} does not exist")
    context = {"row": row, "error": error, **_names()}
    return render(request, "console/mall_redemption_row.html", context)
