"""Lucky draws: the open lotteries, a draw (exactly once per page's draw id) and its result."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from loyalty.api.deps import now_factory, reading
from loyalty.lotteries.open import draws_today, member_draw, open_lotteries
from loyalty.lotteries.service import DrawRequest, draw
from loyalty.lotteries.setup import active_prizes, get_lottery
from loyalty.orders.service import fingerprint
from loyalty.web.member.deps import Me, load_member, member_write, program_of
from loyalty.web.member.views import localised
from loyalty.web.templating import render, request_locale

router = APIRouter()
LotteryId = Annotated[int, Path(ge=1, le=2**62)]
DrawId = Annotated[str, Form(min_length=8, max_length=64, pattern=r"^d-[0-9a-f]+$")]


@router.get("/m/lotteries")
def lotteries(request: Request, me: Me) -> Response:
    now = now_factory(request)()
    locale = request_locale(request)
    with reading(request) as session:
        member = load_member(session, me)
        rows = [
            {"lottery": lottery, "label": localised(lottery, locale)}
            for lottery in open_lotteries(session, me.program_id, now)
        ]
    return render(request, "member/lotteries.html", {"member": member, "lotteries": rows})


@router.get("/m/lotteries/{lottery_id}")
def lottery(
    request: Request,
    me: Me,
    lottery_id: LotteryId,
    result: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The prizes, what a draw costs, draws left today; the result of the draw just made."""
    now = now_factory(request)()
    with reading(request) as session:
        program = program_of(session, me)
        found = get_lottery(session, me.program_id, lottery_id)
        drawn = member_draw(session, me.program_id, me.member_id, result) if result else None
        member = load_member(session, me)
        today = draws_today(session, program, found.id, me.member_id, now)
        context: dict[str, Any] = {
            "member": member,
            "lottery": found,
            "label": localised(found, request_locale(request)),
            "prizes": active_prizes(session, found.id),
            "left": None if found.daily_limit is None else max(found.daily_limit - today, 0),
            "short": max(found.cost_points - member.points_available, 0),
            "open": found.status == "active" and found.starts_at <= now < found.ends_at,
            "result": drawn.response if drawn and drawn.lottery_id == found.id else None,
            "draw_id": f"d-{secrets.token_hex(12)}",
        }
    return render(request, "member/lottery.html", context)


@router.post("/m/lotteries/{lottery_id}/draw")
def post_draw(request: Request, me: Me, lottery_id: LotteryId, draw_id: DrawId) -> Response:
    """Draw once: the points are spent and a prize picked on the server; a double tap with
    the same page's draw id gets the same result."""
    payload = {"draw_id": draw_id, "member_id": me.member_id, "store_code": None}
    req = DrawRequest(draw_id, me.member_id, fingerprint([lottery_id, payload]))
    member_write(
        request,
        lambda session, now: draw(
            session, program_of(session, me), lottery_id, req, now, f"member {me.member_id}"
        ),
    )
    return RedirectResponse(f"/m/lotteries/{lottery_id}?result={draw_id}", status_code=303)
