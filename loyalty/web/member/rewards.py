"""Rewards in three steps: choose (quantity, store or address), confirm, done (the done page,
with the QR code, is in ``redemptions``).

The confirm page carries a fresh redemption id in a hidden field; the redemption service is
exactly-once per id, so a double submit (or a retry after a lost answer) redeems once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from loyalty.api.deps import now_factory, reading
from loyalty.errors import InvalidRequestError
from loyalty.lotteries.service import local_day
from loyalty.members.login import MemberIdentity
from loyalty.orders.service import fingerprint
from loyalty.rewards.catalog import RewardNotFoundError, get_reward, member_catalog, usage, why_not
from loyalty.rewards.choices import addresses, pickup_stores
from loyalty.rewards.models import Address, Reward
from loyalty.rewards.service import RedeemRequest, get_redemption, redeem
from loyalty.stores.models import Store
from loyalty.web.member.deps import Me, load_member, member_write, program_of
from loyalty.web.member.views import localised
from loyalty.web.templating import render, request_locale

router = APIRouter()
RewardId = Annotated[int, Path(ge=1, le=2**62)]
Quantity = Annotated[int, Query(ge=1, le=99)]
MAX_QUANTITY = 10


class ChoiceNotAvailableError(InvalidRequestError):
    code = "choice_not_available"
    title = "Choose a store or address from the list"


@router.get("/m/rewards")
def rewards(request: Request, me: Me) -> Response:
    """What the member can afford first (cheapest first), then the rest with what is missing."""
    now = now_factory(request)()
    locale = request_locale(request)
    with reading(request) as session:
        program = program_of(session, me)
        member = load_member(session, me)
        rows = member_catalog(session, member, now, local_day(program, now)[0])
    for row in rows:
        row["label"] = localised(row, locale)
        row["why"] = row["reason_en"] if locale == "en" else row["reason"]
    return render(request, "member/rewards.html", {"member": member, "rewards": rows})


@dataclass(frozen=True)
class Choice:
    """Step 1's answers, checked: what the confirm page shows and the redemption takes."""

    reward: Reward
    quantity: int
    store: Store | None
    address: Address | None


def _step_one(
    session: Session, me: MemberIdentity, reward_id: int, request: Request
) -> dict[str, Any]:
    now = now_factory(request)()
    program = program_of(session, me)
    member = load_member(session, me)
    reward = get_reward(session, me.program_id, reward_id)
    if reward.status != "on" or (reward.tiers and (member.tier_code or "base") not in reward.tiers):
        raise RewardNotFoundError(f"reward {reward.id} is not offered to this member")
    used = usage(session, member.id, local_day(program, now)[0])
    en = request_locale(request) == "en"

    def reason(quantity: int) -> str | None:
        found = why_not(reward, member, used, now, quantity)
        return (found[1] if en else found[0]) if found else None

    possible = [q for q in range(1, MAX_QUANTITY + 1) if reason(q) is None]
    return {
        "member": member,
        "reward": reward,
        "label": localised(reward, request_locale(request)),
        "reason": reason(1),
        "why_not": reason,
        "max_quantity": max(possible, default=1),
        "stores": pickup_stores(session, reward) if reward.fulfilment == "pickup" else [],
        "addresses": addresses(session, member.id) if reward.fulfilment == "delivery" else [],
    }


@router.get("/m/rewards/{reward_id}")
def choose(request: Request, me: Me, reward_id: RewardId) -> Response:
    """Step 1: the reward, how many, and where to pick it up or where to send it."""
    with reading(request) as session:
        context = _step_one(session, me, reward_id, request)
    return render(request, "member/reward.html", context)


@router.get("/m/rewards/{reward_id}/confirm")
def confirm(
    request: Request,
    me: Me,
    reward_id: RewardId,
    quantity: Quantity = 1,
    store: Annotated[str, Query(max_length=32)] = "",
    address: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    """Step 2: the points to be deducted and the balance after; a fresh redemption id."""
    with reading(request) as session:
        context = _step_one(session, me, reward_id, request)
        choice = _checked_choice(session, context, quantity, store, address)
        reason = context["why_not"](quantity)
    if reason:
        return render(request, "member/reward.html", {**context, "reason": reason}, 409)
    points = choice.reward.points_price * quantity
    context |= {
        "choice": choice,
        "points": points,
        "cash": choice.reward.cash_price * quantity,
        "after": context["member"].points_available - points,
        "redemption_id": f"m-{secrets.token_hex(12)}",
    }
    return render(request, "member/confirm.html", context)


def _checked_choice(
    session: Session, context: dict[str, Any], quantity: int, store: str, address: int | None
) -> Choice:
    reward: Reward = context["reward"]
    chosen_store = next((s for s in context["stores"] if s.code == store), None)
    chosen_address = next((a for a in context["addresses"] if a.id == address), None)
    if reward.fulfilment == "pickup" and chosen_store is None:
        raise ChoiceNotAvailableError("choose the store to pick it up at", field="store")
    if reward.fulfilment == "delivery" and chosen_address is None:
        raise ChoiceNotAvailableError("choose a saved delivery address", field="address")
    return Choice(reward, quantity, chosen_store, chosen_address)


@router.post("/m/rewards/{reward_id}/redeem")
def post_redeem(
    request: Request,
    me: Me,
    reward_id: RewardId,
    redemption_id: Annotated[str, Form(min_length=8, max_length=64, pattern=r"^m-[0-9a-f]+$")],
    quantity: Annotated[int, Form(ge=1, le=99)] = 1,
    store: Annotated[str, Form(max_length=32)] = "",
    address: Annotated[int | None, Form(ge=1, le=2**62)] = None,
) -> Response:
    """Step 3: redeem (points deducted at once), then show the done page."""
    payload = {
        "member_id": me.member_id,
        "reward_id": reward_id,
        "quantity": quantity,
        "store_code": store or None,
        "address_id": address,
    }
    req = RedeemRequest(
        redemption_id,
        me.member_id,
        reward_id,
        quantity,
        fingerprint(payload),
        store or None,
        address,
    )

    def work(session: Session, now: datetime) -> int:
        redeem(session, program_of(session, me), req, now, f"member {me.member_id}")
        return get_redemption(session, me.program_id, redemption_id).id

    row_id = member_write(request, work)
    return RedirectResponse(f"/m/redemptions/{row_id}/done", status_code=303)
