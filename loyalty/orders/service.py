"""Posting orders and refunds: the flow from a till's request to points in the ledger.

This is where domains meet (members, stores, rules, ledger, outbox), in one place. One path
serves a single order, a batch of a thousand and an import: resolve stores, lock members,
replay what was already posted, evaluate, then write orders, entries and lots in a few
multi-row statements.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import BigInteger, Select, String, and_, bindparam, select
from sqlalchemy.orm import Session

from loyalty.db.bulk import Writes
from loyalty.db.engine import any_of, fetch_all, generic_plans
from loyalty.errors import (
    ConflictError,
    InvalidRequestError,
    LoyaltyError,
    NotFoundError,
    PermissionDeniedError,
)
from loyalty.ledger.awards import expand
from loyalty.ledger.models import Entry, Lot
from loyalty.ledger.policy import available_at_for, expiry_for
from loyalty.ledger.service import CACHE_COLUMNS, Credit, credit_many, spend
from loyalty.members.models import Member
from loyalty.members.service import MemberNotActiveError, MemberNotFoundError, lock_member
from loyalty.money import yuan
from loyalty.notifications.models import OutboxEvent
from loyalty.notifications.outbox import emit
from loyalty.orders.earning import Earning, facts_of
from loyalty.orders.models import Order, Refund
from loyalty.programs.models import Program
from loyalty.rules.engine import Evaluation, OrderLine
from loyalty.stores.models import Store
from loyalty.stores.service import UnknownStoreError, open_store, stores_by_code
from loyalty.tasks.service import reward_referrals
from loyalty.tiers.service import upgrade_members


class OrderConflictError(ConflictError):
    code = "order_conflict"
    title = "Order id already used for another order"


class OrderNotFoundError(NotFoundError):
    code = "order_not_found"
    title = "Order not found"


class OrderInFutureError(InvalidRequestError):
    code = "occurred_at_in_future"
    title = "Order time is in the future"


class RefundConflictError(ConflictError):
    code = "refund_conflict"
    title = "Refund id already used for another refund"


class RefundExceedsOrderError(InvalidRequestError):
    code = "refund_exceeds_order"
    title = "Refunds exceed the order amount"


FUTURE_TOLERANCE = timedelta(hours=24)
# What posting orders changes on a member row: written in one statement per batch.
MEMBER_COLUMNS = (*CACHE_COLUMNS, "orders_count", "last_order_at")


@dataclass(frozen=True)
class OrderRequest:
    order_id: str
    member_id: int
    amount: int
    occurred_at: datetime
    store_code: str | None = None
    channel: str | None = None
    payment_method: str | None = None
    lines: tuple[OrderLine, ...] = ()
    request_hash: str = ""


@dataclass
class Outcome:
    """One order's answer: ``status`` 201 with ``body``, or an error."""

    order_id: str
    status: int
    body: dict[str, Any]
    error: LoyaltyError | None = None


def fingerprint(payload: Any) -> str:
    """A stable digest of a request body (integers of any size included)."""
    try:
        raw = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        raw = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()


def error_outcome(order_id: str, error: LoyaltyError) -> Outcome:
    return Outcome(order_id, error.status, {}, error)


# --- posting -----------------------------------------------------------------------------------


def post_orders(
    session: Session,
    program: Program,
    requests: Sequence[OrderRequest],
    now: datetime,
    *,
    simulate: bool = False,
    history: bool = False,
) -> list[Outcome]:
    """Post orders (or, with ``simulate``, answer as if posting and write nothing).

    A deactivated store takes no new orders (422 ``store_inactive``); ``history`` (an import
    of an old system's orders) accepts them, since stores closed since then had real sales,
    and tells nobody: a member is not sent "you earned 50 points" for last year's dinner.
    """
    outcomes: dict[int, Outcome] = {}
    if not simulate:
        generic_plans(session)
    stores = _stores(session, program.id, requests)
    members = _lock_members(session, program.id, requests, lock=not simulate)
    existing = {} if simulate else _existing_orders(session, program.id, requests)
    fresh: list[tuple[int, OrderRequest, Member, Store | None]] = []
    first_seen: dict[str, int] = {}
    repeats: list[tuple[int, OrderRequest]] = []
    for i, req in enumerate(requests):
        if req.order_id in first_seen:
            repeats.append((i, req))
            continue
        first_seen[req.order_id] = i
        try:
            if req.order_id in existing:
                outcomes[i] = _replay(req, existing[req.order_id])
            else:
                fresh.append((i, req, *_check(req, members, stores, now, history)))
        except LoyaltyError as exc:
            outcomes[i] = error_outcome(req.order_id, exc)
    outcomes.update(_earn(session, program, fresh, now, simulate=simulate, history=history))
    for i, req in repeats:
        outcomes[i] = _repeat(req, outcomes[first_seen[req.order_id]])
    return [outcomes[i] for i in range(len(requests))]


def _stores(
    session: Session, program_id: int, requests: Sequence[OrderRequest]
) -> dict[str, Store]:
    codes = {r.store_code for r in requests if r.store_code}
    return stores_by_code(session, program_id, codes) if codes else {}


def _lock_members(
    session: Session, program_id: int, requests: Sequence[OrderRequest], *, lock: bool
) -> dict[int, Member]:
    """Lock every member the orders name, in id order (PostgreSQL), following merges."""
    ids = sorted({r.member_id for r in requests})
    postgres = session.get_bind().dialect.name == "postgresql"
    params = {"ids": ids, "program_id": program_id}
    found = {m.id: m for m in session.scalars(_MEMBERS[postgres, lock and postgres], params)}
    for member_id, member in list(found.items()):
        if member.status == "merged":
            found[member_id] = lock_member(session, program_id, member_id)
    return found


@dataclass(frozen=True)
class _Posted:
    """An order already posted: its request's fingerprint and the answer it got."""

    request_hash: str
    response: dict[str, Any]


def _existing_orders(
    session: Session, program_id: int, requests: Sequence[OrderRequest]
) -> dict[str, _Posted]:
    ids = list({r.order_id for r in requests})
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    rows = fetch_all(conn, _POSTED[postgres], {"ids": ids, "program_id": program_id})
    return {
        order_id: _Posted(digest, _with_breakdown(response, expand(breakdown)))
        for order_id, digest, response, breakdown in rows
    }


def _with_breakdown(response: dict[str, Any], breakdown: list[dict[str, Any]]) -> dict[str, Any]:
    """The stored answer made whole: its breakdown is kept once, on the ledger entry (orders
    posted before that was so still carry their own)."""
    if response.get("breakdown") is not None:
        return response
    return {**response, "breakdown": breakdown}  # in its place: the same bytes as the first


# Built once: building a statement costs more CPU than the database takes to answer it. On
# PostgreSQL the ids are one array parameter, so every group size shares one statement.
def _members_statement(postgres: bool, lock: bool) -> Select[Member]:
    stmt = (
        select(Member)
        .where(any_of(Member.id, BigInteger, postgres))
        .where(Member.program_id == bindparam("program_id"))
        .order_by(Member.id)
        .execution_options(populate_existing=True)
    )
    return stmt.with_for_update() if lock else stmt


_BOTH = (False, True)
_MEMBERS = {(pg, lock): _members_statement(pg, lock) for pg in _BOTH for lock in _BOTH}


def _posted_statement(postgres: bool) -> Select[Any]:
    """The orders already posted among some ids, with the breakdown their entries keep. On
    PostgreSQL the ids are one array parameter, so the SQL is compiled once (``fetch_all``)."""
    ids = any_of(Order.order_id, String, postgres)
    return (
        select(Order.order_id, Order.request_hash, Order.response, Entry.breakdown)
        .outerjoin(
            Lot,
            and_(
                Lot.program_id == Order.program_id,
                Lot.source_type == "order",
                Lot.source_id == Order.order_id,
            ),
        )
        .outerjoin(Entry, Entry.id == Lot.entry_id)
        .where(Order.program_id == bindparam("program_id"), ids)
    )


_POSTED = {postgres: _posted_statement(postgres) for postgres in (False, True)}


def _replay(req: OrderRequest, stored: _Posted) -> Outcome:
    """The first answer for a retried order, or a conflict if the body changed."""
    if stored.request_hash != req.request_hash:
        raise OrderConflictError(f"order {req.order_id} was posted with another body")
    return Outcome(req.order_id, 201, stored.response)


def _repeat(req: OrderRequest, first: Outcome) -> Outcome:
    """An order id given twice in one request: the same answer twice, if the bodies agree."""
    if first.error is None and first.body.get("_hash") == req.request_hash:
        return first
    if first.error is not None and first.error.code != "order_conflict":
        return first
    conflict = OrderConflictError(f"order {req.order_id} appears twice with different bodies")
    return error_outcome(req.order_id, conflict)


def _check(
    req: OrderRequest,
    members: dict[int, Member],
    stores: dict[str, Store],
    now: datetime,
    history: bool,
) -> tuple[Member, Store | None]:
    member = members.get(req.member_id)
    if member is None:
        raise MemberNotFoundError(f"member {req.member_id} does not exist")
    if member.status != "active":
        raise MemberNotActiveError(f"member {member.member_no} is {member.status}")
    store = stores.get(req.store_code) if req.store_code else None
    if req.store_code and store is None:
        raise UnknownStoreError(f"store {req.store_code!r} does not exist", field="store_code")
    if store is not None and not history:
        open_store(store)
    if req.occurred_at > now + FUTURE_TOLERANCE:
        raise OrderInFutureError(f"occurred_at {req.occurred_at.isoformat()} is in the future")
    return member, store


def _earn(
    session: Session,
    program: Program,
    fresh: list[tuple[int, OrderRequest, Member, Store | None]],
    now: datetime,
    *,
    simulate: bool,
    history: bool,
) -> dict[int, Outcome]:
    if not fresh:
        return {}
    days = {r.occurred_at.astimezone(ZoneInfo(program.timezone)).date() for _, r, _, _ in fresh}
    earning = Earning(session, program, [m for _, _, m, _ in fresh], days, lock=not simulate)
    if simulate:
        session.expunge_all()
    planned = [
        (
            i,
            req,
            m,
            s,
            earning.evaluate(
                facts_of(
                    req.order_id,
                    req.amount,
                    req.occurred_at,
                    s,
                    req.channel,
                    req.payment_method,
                    req.lines,
                ),
                m,
            ),
        )
        for i, req, m, s in fresh
    ]
    credits = [_credit(program, req, m, s, ev, now) for _, req, m, s, ev in planned]
    positive = [c for c in credits if c.points > 0]
    writes = Writes()
    with session.no_autoflush:
        after = iter(credit_many(session, positive, now, write=not simulate, writes=writes))
    outcomes: dict[int, Outcome] = {}
    for (i, req, m, _, ev), c in zip(planned, credits, strict=True):
        balance = next(after) if c.points > 0 else (m.points_available, m.points_pending)
        outcomes[i] = Outcome(req.order_id, 201, _response(req, m, ev, c, balance))
    if not simulate:
        members = list({m.id: m for _, _, m, _ in fresh}.values())
        _insert_orders(writes, program.id, planned, outcomes, now, tell=not history)
        writes.update(Member, members, MEMBER_COLUMNS)
        writes.send(session)
        earning.record(session)
        upgrade_members(session, program, members, now)
        in_batch = Counter(m.id for _, _, m, _ in fresh)
        firsts = [m for m in members if m.orders_count == in_batch[m.id]]
        reward_referrals(session, program, firsts, "first_order", now)
    return outcomes


def _credit(
    program: Program,
    req: OrderRequest,
    member: Member,
    store: Store | None,
    ev: Evaluation,
    now: datetime,
) -> Credit:
    return Credit(
        member=member,
        points=ev.points,
        kind="earn",
        source_type="order",
        source_id=req.order_id,
        occurred_at=req.occurred_at,
        expires_at=expiry_for(program, req.occurred_at),
        available_at=available_at_for(program, req.occurred_at, now),
        description=f"订单 {req.order_id} 消费积分",
        breakdown=ev.rows(),
        store_id=store.id if store else None,
        channel=req.channel or (store.channel if store else None),
    )


def _response(
    req: OrderRequest, member: Member, ev: Evaluation, c: Credit, balance: tuple[int, int]
) -> dict[str, Any]:
    pending = c.available_at is not None and c.points > 0
    return {
        "order_id": req.order_id,
        "member_id": member.id,
        "points": {
            "awarded": ev.points,
            "status": "pending" if pending else "available",
            "available_at": c.available_at.isoformat() if pending and c.available_at else None,
            "expires_at": c.expires_at.isoformat() if c.expires_at and ev.points else None,
        },
        "breakdown": ev.breakdown(),
        "member_points": {"available": balance[0], "pending": balance[1]},
        "_hash": req.request_hash,
    }


def _insert_orders(
    writes: Writes,
    program_id: int,
    planned: list[tuple[int, OrderRequest, Member, Store | None, Evaluation]],
    outcomes: dict[int, Outcome],
    now: datetime,
    *,
    tell: bool,
) -> None:
    """Store each order with its answer (for retries) and, if ``tell``, the outbox (``emit``'s
    rows).

    If another transaction stored one of these order ids since we looked, the insert fails on
    the unique key and the whole transaction is rolled back and retried (``api.deps.write``),
    so nothing is credited twice.
    """
    if not planned:
        return
    rows = [
        {
            "program_id": program_id,
            "order_id": req.order_id,
            "member_id": m.id,
            "store_id": s.id if s else None,
            "channel": req.channel or (s.channel if s else None),
            "occurred_at": req.occurred_at,
            "amount": req.amount,
            "payment_method": req.payment_method,
            "lines": [line.__dict__ | {"tags": list(line.tags)} for line in req.lines] or None,
            "refunded_amount": 0,
            "points_awarded": ev.points,
            "points_reversed": 0,
            "request_hash": req.request_hash,
            "response": _stored(outcomes[i].body),
            "created_at": now,
        }
        for i, req, m, s, ev in planned
    ]
    writes.insert(Order, rows)
    if not tell:
        return
    writes.insert(
        OutboxEvent,
        [
            {
                "program_id": program_id,
                "topic": "points.earned",
                "member_id": m.id,
                "payload": {"order_id": req.order_id, "points": ev.points, "member_id": m.id},
                "created_at": now,
                "attempts": 0,
            }
            for _, req, m, _, ev in planned
            if ev.points > 0
        ],
    )


def _stored(body: dict[str, Any]) -> dict[str, Any]:
    """The answer as kept for retries: without the breakdown, which the order's ledger entry
    keeps (it doubled the row and pushed it into compression: 1.6 kB for ten awards)."""
    return {**body, "breakdown": None}


def public_body(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if not k.startswith("_")}


# --- refunds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundRequest:
    refund_id: str
    amount: int
    request_hash: str


def refund_order(
    session: Session,
    program: Program,
    order_id: str,
    req: RefundRequest,
    now: datetime,
    actor: str | None = None,
    store_id: int | None = None,
) -> dict[str, Any]:
    """Take back the order's points in proportion to the refunded amount, once per refund id.

    Points come from the order's own lot first, then the soonest-expiring others; what the
    member has already spent becomes debt, repaid by later earnings.
    """
    order = _order(session, program.id, order_id)
    if store_id is not None and order.store_id != store_id:
        raise PermissionDeniedError(f"order {order_id} was not placed at this key's store")
    member = lock_member(session, program.id, order.member_id)
    session.refresh(order)
    done = session.scalar(
        select(Refund).where(Refund.program_id == program.id, Refund.refund_id == req.refund_id)
    )
    if done is not None:
        if done.order_pk != order.id or done.request_hash != req.request_hash:
            raise RefundConflictError(f"refund {req.refund_id} was posted with another body")
        return done.response
    if order.refunded_amount + req.amount > order.amount:
        raise RefundExceedsOrderError(
            f"refunds would total {order.refunded_amount + req.amount}, order is {order.amount}",
            refundable=order.amount - order.refunded_amount,
        )
    points = _points_to_reverse(order, req.amount)
    if points > 0:
        own_lots = session.scalars(
            select(Lot)
            .where(
                Lot.program_id == program.id,
                Lot.source_type == "order",
                Lot.source_id == order_id,
                Lot.remaining > 0,
            )
            .order_by(Lot.id)
        ).all()
        spend(
            session,
            member,
            points,
            kind="reverse",
            source_type="refund",
            source_id=req.refund_id,
            occurred_at=now,
            now=now,
            first=own_lots,
            allow_debt=True,
            store_id=order.store_id,
            channel=order.channel,
            actor=actor,
            description=f"订单 {order_id} 退款 ¥{yuan(req.amount)}，扣回积分",
        )
    order.refunded_amount += req.amount
    order.points_reversed += points
    body = {
        "refund_id": req.refund_id,
        "order_id": order_id,
        "member_id": member.id,
        "amount": req.amount,
        "points_reversed": points,
        "member_points": {
            "available": member.points_available,
            "pending": member.points_pending,
            "debt": member.points_debt,
        },
    }
    session.add(
        Refund(
            program_id=program.id,
            order_pk=order.id,
            refund_id=req.refund_id,
            amount=req.amount,
            points_reversed=points,
            request_hash=req.request_hash,
            response=body,
            created_at=now,
        )
    )
    emit(session, program.id, "points.reversed", body, now, member.id)
    session.flush()
    return body


def _order(session: Session, program_id: int, order_id: str) -> Order:
    order = session.scalar(
        select(Order).where(Order.program_id == program_id, Order.order_id == order_id)
    )
    if order is None:
        raise OrderNotFoundError(f"order {order_id} does not exist")
    return order


def _points_to_reverse(order: Order, amount: int) -> int:
    """Cumulative proportion, so partial refunds add up to exactly the awarded points."""
    if order.amount == 0:
        return 0
    target = order.points_awarded * (order.refunded_amount + amount) // order.amount
    return max(target - order.points_reversed, 0)
