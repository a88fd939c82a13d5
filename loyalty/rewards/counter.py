"""What a pickup code would do at the counter, before the clerk confirms the hand-over.

``preview_pickup`` asks the questions ``service.verify_code`` asks, in the same order and with
the same errors, but changes nothing: the counter shows the verdict first, and only the
clerk's confirmation calls ``verify_code``, which decides again under the member's lock.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.rewards.models import Redemption
from loyalty.rewards.service import (
    CodeAlreadyUsedError,
    InvalidTransitionError,
    RedemptionNotFoundError,
    WrongStoreError,
)
from loyalty.stores.models import Store


def find_pickup(session: Session, program_id: int, code: str) -> Redemption | None:
    return session.scalar(
        select(Redemption).where(
            Redemption.program_id == program_id, Redemption.pickup_code == code
        )
    )


def preview_pickup(session: Session, program_id: int, code: str, store: Store) -> Redemption:
    """The redemption this code hands over at ``store``; or the error ``verify_code`` raises."""
    redemption = find_pickup(session, program_id, code)
    if redemption is None:
        raise RedemptionNotFoundError("no redemption has this pickup code")
    if redemption.status == "fulfilled":
        used_at = session.get(Store, redemption.verified_store_id)
        raise CodeAlreadyUsedError(
            "picked up already",
            used_at=redemption.verified_at.isoformat() if redemption.verified_at else None,
            used_store_code=used_at.code if used_at else None,
            used_store_name=used_at.name if used_at else None,
        )
    if redemption.status != "pending":
        raise InvalidTransitionError(
            f"this redemption is {redemption.status}", status_now=redemption.status
        )
    if redemption.store_id is not None and redemption.store_id != store.id:
        raise WrongStoreError("this pickup belongs to another store")
    return redemption
