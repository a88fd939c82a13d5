"""Issue coupons, check them against a basket, use them once at the counter, void them.

Codes are drawn with ``secrets`` from an alphabet without look-alikes and are unique per
program (a constraint, and a fresh draw on the rare collision). Using a coupon locks its row
(PostgreSQL: ``FOR UPDATE``; SQLite: writers queue), so of two tills scanning one code at the
same moment exactly one succeeds and the other is told when and where it was used. Services
flush, never commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.coupons.models import Coupon, CouponTemplate
from loyalty.coupons.templates import get_template, reserve, terms_of
from loyalty.coupons.terms import Assessment, Basket, Terms, assess, refuse, window_problem
from loyalty.errors import ConflictError, InvalidRequestError, LoyaltyError, NotFoundError
from loyalty.members.models import Member, MemberTag
from loyalty.members.service import REFERRAL_ALPHABET, get_member, require_active
from loyalty.notifications.outbox import emit, emit_many
from loyalty.rules.engine import OrderLine
from loyalty.stores.models import Store
from loyalty.stores.service import resolve_store


class CouponNotFoundError(NotFoundError):
    code = "coupon_not_found"
    title = "Coupon not found"


class CouponIssueConflictError(ConflictError):
    code = "coupon_issue_conflict"
    title = "Issue id already used for another coupon"


class CouponAlreadyUsedError(ConflictError):
    code = "coupon_already_used"
    title = "Coupon already used"


class CouponExpiredError(ConflictError):
    code = "coupon_expired"
    title = "Coupon expired"


class CouponNotYetValidError(ConflictError):
    code = "coupon_not_yet_valid"
    title = "Coupon not yet valid"


class CouponVoidedError(ConflictError):
    code = "coupon_voided"
    title = "Coupon voided"


class StoreNotAllowedError(InvalidRequestError):
    code = "store_not_allowed"
    title = "Coupon not valid at this store"


class MinSpendNotMetError(InvalidRequestError):
    code = "min_spend_not_met"
    title = "Minimum spend not met"


class NoEligibleItemsError(InvalidRequestError):
    code = "no_eligible_items"
    title = "No eligible items"


class StoreRequiredError(InvalidRequestError):
    code = "store_required"
    title = "A store is required"


REFUSALS: dict[str, type[LoyaltyError]] = {
    e.code: e
    for e in (
        CouponAlreadyUsedError,
        CouponExpiredError,
        CouponNotYetValidError,
        CouponVoidedError,
        StoreNotAllowedError,
        MinSpendNotMetError,
        NoEligibleItemsError,
    )
}
CODE_ALPHABET = REFERRAL_ALPHABET  # no 0/O, 1/I/L: a clerk can read it aloud
CODE_LENGTH = 12  # 32**12 = 2**60 codes
CHUNK = 1000
ATTEMPTS = 5


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """Codes are read aloud and typed: case, spaces and dashes do not matter."""
    return code.replace("-", "").replace(" ", "").upper()


@dataclass(frozen=True)
class Use:
    """A coupon presented at a till: the order's amount and lines, and where."""

    amount: int
    store_code: str | None
    lines: tuple[OrderLine, ...] = ()
    order_id: str | None = None


# --- issue -----------------------------------------------------------------------------------


def issue_coupon(
    session: Session,
    program_id: int,
    member_id: int,
    template_id: int,
    now: datetime,
    *,
    source_type: str,
    source_id: str | None,
) -> Coupon:
    """Give a member one coupon of a template; 409 if the template is inactive or sold out."""
    require_active(get_member(session, program_id, member_id))
    template = reserve(session, program_id, template_id, 1, now)
    row = coupon_row(template, terms_of(template).as_json(), member_id, now, source_type, source_id)
    for attempt in range(ATTEMPTS):
        try:
            with session.begin_nested():
                coupon = Coupon(**row, code=new_code())
                session.add(coupon)
        except IntegrityError:  # a code collision: draw again
            if attempt == ATTEMPTS - 1:
                raise
            continue
        emit(session, program_id, "coupon.issued", issued_event(coupon), now, member_id)
        return coupon
    raise AssertionError("unreachable")


def coupon_row(
    template: CouponTemplate,
    terms: dict[str, Any],
    member_id: int,
    now: datetime,
    source_type: str,
    source_id: str | None,
) -> dict[str, Any]:
    """A coupon's columns (without its code): terms and validity frozen at issue."""
    valid_from, valid_until = validity(template, now)
    return {
        "program_id": template.program_id,
        "template_id": template.id,
        "member_id": member_id,
        "status": "issued",
        "terms": terms,
        "issued_at": now,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "source_type": source_type,
        "source_id": source_id,
    }


def validity(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    """``valid_days`` from now, or the template's fixed window."""
    if template.valid_days is not None:
        return now, now + timedelta(days=template.valid_days)
    assert template.valid_until is not None
    return template.valid_from or now, template.valid_until


def issued_event(coupon: Coupon) -> dict[str, Any]:
    return {
        "code": coupon.code,
        "template_id": coupon.template_id,
        "member_id": coupon.member_id,
        "valid_until": coupon.valid_until.isoformat(),
        "source": {"type": coupon.source_type, "id": coupon.source_id},
    }


def issue_once(
    session: Session,
    program_id: int,
    member_id: int,
    template_id: int,
    issue_id: str,
    now: datetime,
) -> Coupon:
    """``issue_coupon`` exactly once per ``issue_id``: a retry gets the same coupon, the same
    id for another member or template is 409 ``coupon_issue_conflict``."""
    done = session.scalar(
        select(Coupon).where(Coupon.program_id == program_id, Coupon.issue_id == issue_id)
    )
    if done is not None:
        if (done.member_id, done.template_id) != (member_id, template_id):
            raise CouponIssueConflictError(f"issue {issue_id} gave coupon {done.code} to another")
        return done
    coupon = issue_coupon(
        session, program_id, member_id, template_id, now, source_type="manual", source_id=issue_id
    )
    coupon.issue_id = issue_id
    session.flush()  # a concurrent twin fails here on the unique key; the request is retried
    return coupon


# --- bulk ------------------------------------------------------------------------------------


def issue_bulk(
    session: Session,
    program_id: int,
    template_id: int,
    now: datetime,
    *,
    segment: str | None = None,
    member_ids: list[int] | None = None,
    source_id: str | None = None,
) -> int:
    """One coupon to every active member of a segment (a member tag) or of a list.

    Members are read in chunks by id; each chunk is counted against the template's limit and
    written with one multi-row insert. All or nothing: a limit reached half-way refuses the
    whole call (the request's transaction rolls back).
    """
    terms = terms_of(get_template(session, program_id, template_id)).as_json()
    total = 0
    for ids in _member_chunks(session, program_id, segment, member_ids):
        template = reserve(session, program_id, template_id, len(ids), now)
        rows = [coupon_row(template, terms, m, now, "bulk", source_id) for m in ids]
        _insert_with_codes(session, rows)
        events = [(program_id, "coupon.issued", r["member_id"], _bulk_event(r)) for r in rows]
        emit_many(session, events, now)
        total += len(ids)
    return total


def _member_chunks(
    session: Session, program_id: int, segment: str | None, member_ids: list[int] | None
) -> Iterator[list[int]]:
    stmt = select(Member.id).where(Member.program_id == program_id, Member.status == "active")
    if segment is not None:
        tagged = select(MemberTag.member_id).where(
            MemberTag.program_id == program_id, MemberTag.tag == segment
        )
        stmt = stmt.where(Member.id.in_(tagged))
    if member_ids is not None:
        stmt = stmt.where(Member.id.in_(member_ids))
    after = 0
    while ids := list(
        session.scalars(stmt.where(Member.id > after).order_by(Member.id).limit(CHUNK))
    ):
        yield ids
        after = ids[-1]


def _insert_with_codes(session: Session, rows: list[dict[str, Any]]) -> None:
    for attempt in range(ATTEMPTS):
        for row in rows:
            row["code"] = new_code()
        try:
            with session.begin_nested():
                session.execute(insert(Coupon), rows)
            return
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise


def _bulk_event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": row["code"],
        "template_id": row["template_id"],
        "member_id": row["member_id"],
        "valid_until": row["valid_until"].isoformat(),
        "source": {"type": "bulk", "id": row["source_id"]},
    }


# --- find, check, use, void ------------------------------------------------------------------


def find_coupon(session: Session, program_id: int, code: str, *, lock: bool = False) -> Coupon:
    stmt = select(Coupon).where(
        Coupon.program_id == program_id, Coupon.code == normalise_code(code)
    )
    if lock:
        stmt = stmt.execution_options(populate_existing=True)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
    coupon = session.scalar(stmt)
    if coupon is None:
        raise CouponNotFoundError(f"no coupon with code {code!r}")
    return coupon


def check(session: Session, coupon: Coupon, use: Use, now: datetime) -> Assessment:
    """Whether the coupon applies to this use, and its discount; or why not."""
    problem = status_problem(session, coupon, now)
    if problem is not None:
        return problem
    store = resolve_store(session, coupon.program_id, use.store_code)
    basket = Basket(
        amount=use.amount,
        lines=use.lines,
        store_code=store.code if store else None,
        store_groups=tuple(store.groups or ()) if store else (),
    )
    return assess(Terms.from_json(coupon.terms), basket)


def status_problem(session: Session, coupon: Coupon, now: datetime) -> Assessment | None:
    if coupon.status == "used":
        assert coupon.used_at is not None
        where = store_code_of(session, coupon.used_store_id)
        return refuse(
            "coupon_already_used",
            f"used at {coupon.used_at.isoformat()} in store {where}",
            used_at=coupon.used_at.isoformat(),
            used_store_code=where,
        )
    if coupon.status == "voided":
        return refuse("coupon_voided", coupon.void_reason or "withdrawn by an operator")
    return window_problem(coupon.valid_from, coupon.valid_until, now)


def store_code_of(session: Session, store_id: int | None) -> str | None:
    return (
        None if store_id is None else session.scalar(select(Store.code).where(Store.id == store_id))
    )


def redeem(session: Session, program_id: int, code: str, use: Use, now: datetime) -> Coupon:
    """Use a coupon once: 409 ``coupon_already_used`` (with ``used_at`` and
    ``used_store_code``) the second time, 422 ``store_not_allowed`` at a store it excludes.

    The same order using it again at the same store (a till's retry) gets the first answer.
    """
    if use.store_code is None:
        raise StoreRequiredError("say at which store the coupon is used", field="store_code")
    coupon = find_coupon(session, program_id, code, lock=True)
    store = resolve_store(session, program_id, use.store_code)
    assert store is not None
    if _is_retry(coupon, use, store):
        return coupon
    result = check(session, coupon, use, now)
    if not result.applies:
        raise_refusal(result)
    coupon.status, coupon.used_at, coupon.used_store_id = "used", now, store.id
    coupon.used_order_id, coupon.used_amount = use.order_id, use.amount
    coupon.discount = result.discount
    session.flush()
    emit(
        session, program_id, "coupon.redeemed", redeemed_event(coupon, store), now, coupon.member_id
    )
    return coupon


def _is_retry(coupon: Coupon, use: Use, store: Store) -> bool:
    return (
        coupon.status == "used"
        and use.order_id is not None
        and (coupon.used_order_id, coupon.used_store_id, coupon.used_amount)
        == (use.order_id, store.id, use.amount)
    )


def raise_refusal(result: Assessment) -> None:
    error: Callable[..., LoyaltyError] = REFUSALS[result.reason or ""]
    raise error(result.detail, **result.extra)


def redeemed_event(coupon: Coupon, store: Store) -> dict[str, Any]:
    return {
        "code": coupon.code,
        "template_id": coupon.template_id,
        "member_id": coupon.member_id,
        "store_code": store.code,
        "order_id": coupon.used_order_id,
        "amount": coupon.used_amount,
        "discount": coupon.discount,
    }


def void(session: Session, program_id: int, code: str, reason: str | None, now: datetime) -> Coupon:
    """Withdraw an unused coupon; voiding it again changes nothing; a used one is 409."""
    coupon = find_coupon(session, program_id, code, lock=True)
    if coupon.status == "voided":
        return coupon
    if coupon.status == "used":
        raise_refusal(status_problem(session, coupon, now) or refuse("coupon_already_used", ""))
    coupon.status, coupon.voided_at, coupon.void_reason = "voided", now, reason
    session.flush()
    return coupon
