"""``Idempotency-Key``: a retried POST gets its first answer; a reused key with another body 409."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON as SAJSON
from sqlalchemy import ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from loyalty.db.base import Base, BigId, UTCDateTime
from loyalty.errors import IdempotencyConflictError, InvalidRequestError
from loyalty.orders.service import fingerprint

MAX_KEY = 128


class IdempotencyRecord(Base):
    """The first answer to a request sent with an ``Idempotency-Key`` header."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("uq_idempotency_keys", "program_id", "key", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    key: Mapped[str] = mapped_column(String(MAX_KEY))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(SAJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


Answer = tuple[int, dict[str, Any]]


def once(
    session: Session,
    program_id: int,
    key: str | None,
    request: Any,
    now: datetime,
    work: Callable[[], Answer],
) -> Answer:
    """Run ``work`` unless this key already has an answer; store the answer with the key.

    ``request`` is everything that identifies the call (path and body); the insert of the key
    shares the transaction of the work, so both land or neither does. A concurrent twin fails
    on the unique key, is rolled back and retried, and then replays.
    """
    if key is None:
        return work()
    if not key or len(key) > MAX_KEY:
        raise InvalidRequestError(f"Idempotency-Key must be 1 to {MAX_KEY} characters")
    digest = fingerprint(request)
    stored = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.program_id == program_id, IdempotencyRecord.key == key
        )
    )
    if stored is not None:
        if stored.request_hash != digest:
            raise IdempotencyConflictError(f"key {key!r} was used for another request")
        return stored.status_code, stored.response
    status, body = work()
    session.add(
        IdempotencyRecord(
            program_id=program_id,
            key=key,
            request_hash=digest,
            status_code=status,
            response=body,
            created_at=now,
        )
    )
    session.flush()
    return status, body
