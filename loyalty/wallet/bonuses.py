"""Top-up bonus tiers ("top up ¥1,000, get 100 points"): which applies, and how operators
replace them.

Choosing a tier is a pure function of the tiers and the amount, so a till can show what a
top-up would give and a report can explain what it gave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loyalty.errors import InvalidRequestError
from loyalty.money import yuan
from loyalty.wallet.models import TopUpBonus


class InvalidBonusTiersError(InvalidRequestError):
    code = "invalid_bonus_tiers"
    title = "Invalid top-up bonus tiers"


@dataclass(frozen=True)
class BonusTier:
    """A top-up of at least ``min_amount`` fen gets ``bonus_points`` and ``bonus_amount``."""

    min_amount: int
    bonus_points: int = 0
    bonus_amount: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "min_amount": self.min_amount,
            "bonus_points": self.bonus_points,
            "bonus_amount": self.bonus_amount,
        }


def best_tier(tiers: Sequence[BonusTier], amount: int) -> BonusTier | None:
    """The tier with the highest ``min_amount`` not above ``amount``; tiers never stack."""
    matching = [t for t in tiers if t.min_amount <= amount]
    return max(matching, key=lambda t: t.min_amount, default=None)


def points_award(tier: BonusTier, amount: int) -> dict[str, Any]:
    """The breakdown entry that explains bonus points to the member, like a rule's award."""
    shown, shown_en = f"¥{yuan(amount)} ", f"¥{yuan(amount)}"
    if amount != tier.min_amount:
        shown = f"¥{yuan(amount)}（满 ¥{yuan(tier.min_amount)}）"
        shown_en += f" (¥{yuan(tier.min_amount)} tier)"
    return {
        "rule_id": None,
        "rule_version": None,
        "rule": "top_up_bonus",
        "description": f"充值 {shown}赠 {tier.bonus_points} 积分",
        "description_en": f"Top-up {shown_en} bonus: +{tier.bonus_points}",
        "points": tier.bonus_points,
    }


def program_tiers(session: Session, program_id: int) -> list[BonusTier]:
    rows = session.scalars(
        select(TopUpBonus)
        .where(TopUpBonus.program_id == program_id)
        .order_by(TopUpBonus.min_amount)
    )
    return [BonusTier(r.min_amount, r.bonus_points, r.bonus_amount) for r in rows]


def check_tiers(tiers: Sequence[BonusTier]) -> None:
    """Each tier gives something, and no two share a threshold (which would be ambiguous)."""
    seen: set[int] = set()
    for i, tier in enumerate(tiers):
        if tier.min_amount < 0 or tier.bonus_points < 0 or tier.bonus_amount < 0:
            raise InvalidBonusTiersError(f"tier {i} has a negative value", field=f"tiers.{i}")
        if tier.bonus_points == 0 and tier.bonus_amount == 0:
            raise InvalidBonusTiersError(
                f"tier {i} gives neither points nor value", field=f"tiers.{i}"
            )
        if tier.min_amount in seen:
            raise InvalidBonusTiersError(
                f"two tiers start at {tier.min_amount}", field=f"tiers.{i}.min_amount"
            )
        seen.add(tier.min_amount)


def replace_tiers(
    session: Session, program_id: int, tiers: Sequence[BonusTier], now: datetime
) -> list[BonusTier]:
    """Replace every tier of the program; top-ups from now on use the new ones.

    Past top-ups keep the tier they got (``TopUp.bonus_tier``), so nothing is rewritten.
    """
    check_tiers(tiers)
    session.execute(delete(TopUpBonus).where(TopUpBonus.program_id == program_id))
    session.add_all(
        TopUpBonus(
            program_id=program_id,
            min_amount=t.min_amount,
            bonus_points=t.bonus_points,
            bonus_amount=t.bonus_amount,
            created_at=now,
        )
        for t in tiers
    )
    session.flush()
    return program_tiers(session, program_id)
