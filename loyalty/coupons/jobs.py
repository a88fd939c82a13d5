"""The coupon expiry job: issued coupons past their window become ``expired``.

Set-based and chunked by id: each chunk is one transaction with one UPDATE whose predicate
re-checks the coupon is still issued and due, so the job is safe to run twice, concurrently
with itself, and next to tills using coupons (a coupon used meanwhile is no longer
``issued`` and is left alone).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from loyalty.coupons.models import Coupon
from loyalty.ledger.jobs import JobResult, Transaction

CHUNK = 5000


def _due(as_of: datetime) -> ColumnElement[bool]:
    return and_(Coupon.status == "issued", Coupon.valid_until <= as_of)


def expire_coupons(
    transaction: Transaction,
    as_of: datetime,
    now: datetime,
    on_chunk: Callable[[JobResult], None] | None = None,
) -> JobResult:
    """Mark every coupon due at ``as_of`` expired; ``rows`` coupons, ``members`` holders."""
    total, after = JobResult(), 0
    while True:
        with transaction() as session:
            ids = _due_ids(session, as_of, after)
            if not ids:
                return total
            result = expire_chunk(session, ids, as_of, now)
        after = ids[-1]
        total.add(result)
        if on_chunk:
            on_chunk(result)


def _due_ids(session: Session, as_of: datetime, after: int) -> list[int]:
    stmt = select(Coupon.id).where(_due(as_of), Coupon.id > after).order_by(Coupon.id).limit(CHUNK)
    return list(session.scalars(stmt))


def expire_chunk(session: Session, ids: list[int], as_of: datetime, now: datetime) -> JobResult:
    due = and_(_due(as_of), Coupon.id.in_(ids))
    members = session.scalar(select(func.count(func.distinct(Coupon.member_id))).where(due))
    done = session.execute(
        update(Coupon)
        .where(due)
        .values(status="expired", expired_at=now)
        .execution_options(synchronize_session=False)
    )
    return JobResult(rows=done.rowcount, members=int(members or 0))  # type: ignore[attr-defined]
