"""Turn domain answers into what the member's templates show, in the reader's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loyalty.rewards.models import Redemption, Reward
from loyalty.tiers.service import TierSpec, tier_of
from loyalty.web.i18n import N_

Gettext = Any

REDEMPTION_STATUSES = {
    "pending": N_("Awaiting pickup"),
    "fulfilled": N_("Picked up"),
    "shipped": N_("Shipped"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Pickup expired"),
}
AWAITING_SHIPMENT = N_("Awaiting shipment")
REDEMPTION_BADGES = {"pending": "warn", "fulfilled": "ok", "shipped": "ok", "completed": "ok"}


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def localised(row: object, locale: str, field: str = "name") -> str:
    """``name_en`` for English readers when there is one, else ``name``."""

    def get(key: str) -> Any:
        return row.get(key) if isinstance(row, dict) else getattr(row, key, None)

    english = get(f"{field}_en")
    return str(english if locale == "en" and english else get(field) or "")


def tier_card(
    progress: dict[str, Any], ladder: list[TierSpec], locale: str, _: Gettext
) -> dict[str, Any]:
    """The tier, how far the member is to the next one (0-100) and the sentence saying it."""
    card: dict[str, Any] = {"name": localised(progress, locale), "percent": 100, "hint": None}
    nxt = progress.get("next")
    if not nxt:
        return card
    name = localised(tier_of(ladder, nxt["code"]), locale)
    threshold, current, remaining = nxt["threshold"], nxt["current"], nxt["remaining"]
    card["percent"] = min(100, current * 100 // threshold) if threshold > 0 else 100
    card["next_name"] = name
    if nxt["metric"] == "spend":
        amount = money_text(remaining)
        card["hint"] = _("Spend %(amount)s more to reach %(tier)s", amount=amount, tier=name)
    elif nxt["metric"] == "points":
        card["hint"] = _(
            "Earn %(points)s more points to reach %(tier)s", points=remaining, tier=name
        )
    else:
        card["hint"] = _("%(orders)s more orders to reach %(tier)s", orders=remaining, tier=name)
    return card


def money_text(fen: int) -> str:
    """``190610`` -> ``¥1,906.10``; whole yuan without cents: ``¥320``."""
    whole, cents = divmod(fen, 100)
    return f"¥{whole:,}" + (f".{cents:02d}" if cents else "")


def entry_view(entry: dict[str, Any], stores: dict[str, str], locale: str) -> dict[str, Any]:
    """A history line: what happened, the points, why (each rule's sentence) and where."""
    key = "description_en" if locale == "en" else "description"
    lines = [str(b.get(key) or b.get("description") or "") for b in entry.get("breakdown") or []]
    return {
        "id": entry["id"],
        "kind": entry["kind"],
        "points": entry["points"],
        "description": entry.get("description") or "",
        "lines": [line for line in lines if line],
        "store": stores.get(entry.get("store_code") or "", entry.get("store_code") or ""),
        "at": parse_time(entry["occurred_at"]),
        "expires_at": parse_time(entry.get("expires_at")) if entry["kind"] == "earn" else None,
    }


def redemption_status(status: str, fulfilment: str) -> str:
    """The status in the member's words: a pending delivery awaits shipment, not pickup."""
    if status == "pending" and fulfilment == "delivery":
        return AWAITING_SHIPMENT
    return REDEMPTION_STATUSES.get(status, status)


def redemption_view(
    r: Redemption, reward: Reward | None, locale: str, store: str | None = None
) -> dict[str, Any]:
    """A redemption as the member's pages show it: what, when, the price and the status, and
    what to do next (``store``: the name of the store to pick it up at)."""
    return {
        "id": r.id,
        "label": localised(reward, locale) if reward else "",
        "quantity": r.quantity,
        "points": r.points,
        "cash_due": r.cash_due,
        "created_at": r.created_at,
        "status": r.status,
        "status_label": redemption_status(r.status, r.fulfilment),
        "badge": REDEMPTION_BADGES.get(r.status, ""),
        "pickup_code": r.pickup_code,
        "pickup_until": r.pickup_until,
        "verified_at": r.verified_at,
        "store": store,
        "address": r.address,
        "tracking": r.tracking,
        "coupon_code": r.coupon_code,
    }
