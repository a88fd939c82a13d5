"""Write domain events to the outbox, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalty.db.bulk import bulk_insert
from loyalty.notifications.models import OutboxEvent


def emit(
    session: Session,
    program_id: int,
    topic: str,
    payload: dict[str, Any],
    now: datetime,
    member_id: int | None = None,
) -> None:
    emit_many(session, [(program_id, topic, member_id, payload)], now)


def emit_many(
    session: Session,
    events: Iterable[tuple[int, str, int | None, dict[str, Any]]],
    now: datetime,
) -> None:
    rows = [
        {
            "program_id": p,
            "topic": t,
            "member_id": m,
            "payload": body,
            "created_at": now,
            "attempts": 0,
        }
        for p, t, m, body in events
    ]
    bulk_insert(session, OutboxEvent, rows)
