"""``Idempotency-Key``: a retried POST gets its first answer; a reused key with another body 409."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON as SAJSON
from sqlalchemy import BigInteger, Index, Integer, String, insert, select
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
    program_id: Mapped[int] = mapped_column(BigInteger)  # no key: see ``ledger.models.Entry``
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
    keyed = Keyed(check_key(key), fingerprint(request))
    stored = answered(session, program_id, [keyed])
    if keyed.key in stored:
        return replay(keyed, stored[keyed.key])
    status, body = work()
    remember(session, program_id, [(keyed, (status, body))], now)
    return status, body


@dataclass(frozen=True)
class Keyed:
    """A request's ``Idempotency-Key`` and the fingerprint of what it asked."""

    key: str
    digest: str


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY:
        raise InvalidRequestError(f"Idempotency-Key must be 1 to {MAX_KEY} characters")
    return key


def answered(
    session: Session, program_id: int, requests: Sequence[Keyed]
) -> dict[str, IdempotencyRecord]:
    """The keys among these that already have an answer (one query for any number)."""
    keys = list({r.key for r in requests})
    records = session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.program_id == program_id, IdempotencyRecord.key.in_(keys)
        )
    )
    return {r.key: r for r in records}


def replay(request: Keyed, stored: IdempotencyRecord) -> Answer:
    """The first answer again, or a conflict if the key came with another request."""
    if stored.request_hash != request.digest:
        raise conflict(request)
    return stored.status_code, stored.response


def conflict(request: Keyed) -> IdempotencyConflictError:
    return IdempotencyConflictError(f"key {request.key!r} was used for another request")


def remember(
    session: Session, program_id: int, answers: Sequence[tuple[Keyed, Answer]], now: datetime
) -> None:
    """Store each answer under its key, in the transaction of the work that produced it, so
    both land or neither does; a twin stored meanwhile fails the insert on the unique key."""
    if not answers:
        return
    rows = [
        {
            "program_id": program_id,
            "key": keyed.key,
            "request_hash": keyed.digest,
            "status_code": status,
            "response": body,
            "created_at": now,
        }
        for keyed, (status, body) in answers
    ]
    session.execute(insert(IdempotencyRecord), rows)  # one statement, no objects to track
