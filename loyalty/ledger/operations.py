"""Ledger operations a caller asks for by member id: adjustments and holds.

Each locks the member first, then calls the ledger service, then tells the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import InvalidRequestError, PermissionDeniedError
from loyalty.ledger.models import Entry, Hold
from loyalty.ledger.policy import expiry_for
from loyalty.ledger.service import (
    Credit,
    HoldNotFoundError,
    capture_hold,
    credit,
    place_hold,
    spend,
    void_hold,
)
from loyalty.members.service import lock_member, require_active
from loyalty.notifications.outbox import emit
from loyalty.programs.models import Program


class InvalidAdjustmentError(InvalidRequestError):
    code = "invalid_adjustment"
    title = "Invalid adjustment"


def adjust(
    session: Session,
    program: Program,
    member_id: int,
    points: int,
    reason: str,
    expires_at: datetime | None,
    actor: str,
    now: datetime,
) -> Entry:
    """A manual correction with its reason and author: a credit (new lot) or a debit."""
    if points == 0:
        raise InvalidAdjustmentError("points must not be zero", field="points")
    if expires_at is not None and (points < 0 or expires_at <= now):
        raise InvalidAdjustmentError(
            "expires_at must be in the future, for a credit", field="expires_at"
        )
    member = lock_member(session, program.id, member_id)
    require_active(member)
    description = f"人工调整: {reason}"
    if points > 0:
        credit(
            session,
            Credit(
                member=member,
                points=points,
                kind="adjust",
                source_type="adjustment",
                source_id=None,
                occurred_at=now,
                expires_at=expires_at or expiry_for(program, now),
                description=description,
                actor=actor,
            ),
            now,
        )
    else:
        spend(
            session,
            member,
            -points,
            kind="adjust",
            source_type="adjustment",
            source_id=None,
            occurred_at=now,
            now=now,
            description=description,
            actor=actor,
        )
    session.flush()
    entry = session.scalars(
        select(Entry).where(Entry.member_id == member.id).order_by(Entry.id.desc()).limit(1)
    ).one()
    emit(
        session,
        program.id,
        "points.adjusted",
        {"member_id": member.id, "points": points, "reason": reason, "actor": actor},
        now,
        member.id,
    )
    return entry


def hold_points(
    session: Session,
    program: Program,
    member_id: int,
    points: int,
    reference: str,
    ttl_seconds: int | None,
    store_id: int | None,
    now: datetime,
) -> Hold:
    member = lock_member(session, program.id, member_id)
    require_active(member)
    return place_hold(
        session,
        member,
        points,
        reference=reference,
        ttl_seconds=ttl_seconds or program.hold_ttl_seconds,
        store_id=store_id,
        now=now,
    )


def _locked_hold(
    session: Session, program_id: int, hold_id: int, store_id: int | None
) -> tuple[Any, Hold]:
    hold = session.get(Hold, hold_id)
    if hold is None or hold.program_id != program_id:
        raise HoldNotFoundError(f"hold {hold_id} does not exist")
    if store_id is not None and hold.store_id != store_id:
        raise PermissionDeniedError(f"hold {hold_id} belongs to another store")
    member = lock_member(session, program_id, hold.member_id)
    session.refresh(hold)
    return member, hold


def capture(
    session: Session,
    program: Program,
    hold_id: int,
    points: int | None,
    store_id: int | None,
    now: datetime,
) -> Hold:
    member, hold = _locked_hold(session, program.id, hold_id, store_id)
    capture_hold(session, member, hold, points, now)
    if hold.captured_points:
        emit(
            session,
            program.id,
            "points.redeemed",
            {"member_id": member.id, "points": hold.captured_points, "hold_id": hold.id},
            now,
            member.id,
        )
    session.flush()
    return hold


def void(
    session: Session, program: Program, hold_id: int, store_id: int | None, now: datetime
) -> Hold:
    member, hold = _locked_hold(session, program.id, hold_id, store_id)
    void_hold(session, member, hold, now)
    session.flush()
    return hold
