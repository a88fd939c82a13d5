"""``loyalty import orders``: order history, earned through ``post_orders`` like any order.

Columns (``order_id``, ``occurred_at``, ``amount`` and one of the member columns required):

============== =========================================================================
order_id       the old system's order number (letters, digits and ``_-.:/#``, up to 64)
member_ref     the member's ``member_ref`` from the members import; or instead
phone          the member's mobile number; or instead
card_no        the member's card number (the first of the three given is used)
store_code     where it was bought (must exist); its channel becomes the order's channel
occurred_at    ISO 8601; a date alone is local midnight, no offset means local time
amount         yuan with up to 2 decimals, ``123.45``; converted to fen exactly
payment_method e.g. ``wechat``, ``alipay``, ``cash`` (excluded methods earn nothing)
============== =========================================================================

Each chunk is one transaction: one query finds the chunk's members, one finds which order
ids were imported before, then one ``post_orders`` call earns the rest. An order id already
there with the same details is skipped; with other details it is rejected (``order_conflict``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db.engine import Database
from loyalty.errors import LoyaltyError
from loyalty.imports.csvfile import Row, describe
from loyalty.imports.lookup import LEGACY_ID, Holder, Pair, Target, holders, load_target
from loyalty.imports.runner import (
    ChunkOutcome,
    ChunkWork,
    ImportFile,
    ImportResult,
    Lanes,
    Progress,
    run_import,
    write_chunk,
)
from loyalty.imports.statistics import PlannerStatistics
from loyalty.imports.values import InvalidValueError, parse_time, parse_yuan
from loyalty.ledger.models import Entry, Lot
from loyalty.members.identifiers import normalise_identifier
from loyalty.members.service import MemberNotFoundError
from loyalty.notifications.models import OutboxEvent
from loyalty.orders.models import Order
from loyalty.orders.schemas import OrderIn
from loyalty.orders.service import (
    OrderConflictError,
    OrderRequest,
    post_orders,
)
from loyalty.programs.service import current_program

COLUMNS = (
    "order_id",
    "member_ref",
    "phone",
    "card_no",
    "store_code",
    "occurred_at",
    "amount",
    "payment_method",
)
MEMBER_COLUMNS = (("member_ref", LEGACY_ID), ("phone", "phone"), ("card_no", "card"))
REQUIRED = (("order_id",), ("occurred_at",), ("amount",), tuple(c for c, _ in MEMBER_COLUMNS))
CHUNK = 1000
# Chunks of lanes side by side are smaller: two lanes of 1,000 random members' orders wait on
# the members they share (60,000 orders: 4,258/s in one lane; two lanes of 1,000: 4,002-4,219/s,
# of 200: 5,273/s, of 100: 5,390/s; three of 200: 4,901/s).
LANE_CHUNK = 200
TABLES = (
    Order.__tablename__,
    Entry.__tablename__,
    Lot.__tablename__,
    OutboxEvent.__tablename__,
)


@dataclass(frozen=True)
class OrderRow:
    """A row whose cells parse; the member is still to be found."""

    row: Row
    member: Pair
    order_id: str
    store_code: str | None
    occurred_at: datetime
    amount: int
    payment_method: str | None


def import_orders(
    db: Database,
    program_id: int,
    path: Path,
    now: datetime,
    *,
    restart: bool = False,
    chunk_size: int | None = None,
    lanes: int = 1,
    on_progress: Progress | None = None,
) -> ImportResult:
    """Import an orders CSV; see the module docstring for its columns.

    With ``lanes`` > 1, chunks are posted side by side in that many processes (each order
    is its own: which chunk posts first changes nothing but, for an order id given twice
    with different details, which of the two is kept and which rejected).
    """
    source = ImportFile.open(path, REQUIRED)
    statistics = PlannerStatistics(db, TABLES)
    build = partial(_chunk_work, program_id=program_id, now=now)
    return run_import(
        source,
        Lanes(db.url, lanes, build) if lanes > 1 else build(db),
        chunk_size=chunk_size or (CHUNK if lanes == 1 else LANE_CHUNK),
        restart=restart,
        on_progress=on_progress,
        on_chunk=lambda outcome: statistics.after(outcome.imported),
    )


# Below this many rows, starting the lanes' processes costs what they gain (20,000 orders:
# 3,825/s in one lane, 3,789/s in two; 100,000: 4,108/s against 5,183/s).
LANES_FROM = 50_000


def default_lanes(db: Database, rows: int) -> int:
    """For a file of ``rows``: one lane per core, at most 4, on PostgreSQL from
    ``LANES_FROM`` rows on; else one (SQLite's writers queue anyway)."""
    if db.dialect != "postgresql" or rows < LANES_FROM:
        return 1
    return min(os.cpu_count() or 1, 4)


def _chunk_work(db: Database, program_id: int, now: datetime) -> ChunkWork:
    """One lane's work: parse a chunk, then post it in one transaction."""
    with db.reader() as session:
        target = load_target(session, program_id)
    return lambda chunk: _chunk(db, target, chunk, now)


def _chunk(db: Database, target: Target, chunk: list[Row], now: datetime) -> ChunkOutcome:
    """Parse, then post in one transaction; an order id posted concurrently retries."""
    return write_chunk(
        db,
        chunk,
        lambda row: parse_order(row, target),
        lambda session, parsed, out: _post(session, target, parsed, now, out),
    )


def parse_order(row: Row, target: Target) -> OrderRow:
    """Check one row's cells, or raise a ``LoyaltyError`` that says what is wrong."""
    order_id, at, amount = row.get("order_id"), row.get("occurred_at"), row.get("amount")
    for column, value in (("order_id", order_id), ("occurred_at", at), ("amount", amount)):
        if not value:
            raise InvalidValueError(f"{column} is required", field=column)
    assert order_id and at and amount
    return OrderRow(
        row=row,
        member=_member_key(row),
        order_id=order_id,
        store_code=row.get("store_code"),
        occurred_at=parse_time(at, target.tz, "occurred_at"),
        amount=parse_yuan(amount),
        payment_method=row.get("payment_method"),
    )


def _member_key(row: Row) -> Pair:
    for column, type_ in MEMBER_COLUMNS:
        value = row.get(column)
        if value:
            return normalise_identifier(type_, value)
    raise InvalidValueError("member_ref, phone or card_no is required", field="member_ref")


def _post(
    session: Session, target: Target, parsed: list[OrderRow], now: datetime, out: ChunkOutcome
) -> ChunkOutcome:
    """Find members (one query), drop what was imported before, earn the rest."""
    found = holders(session, target.program_id, (o.member for o in parsed))
    ready: list[tuple[Row, OrderRequest]] = []
    for o in parsed:
        try:
            ready.append((o.row, _request(o, found)))
        except LoyaltyError as exc:
            out.reject(o.row, describe(exc))
    fresh = _new_orders(session, target.program_id, ready, out)
    program = current_program(session, target.program_id)
    outcomes = post_orders(session, program, [req for _, req in fresh], now, history=True)
    for (row, _), outcome in zip(fresh, outcomes, strict=True):
        if outcome.error is None:
            out.imported += 1
        else:
            out.reject(row, describe(outcome.error))
    return out


def _request(o: OrderRow, found: dict[Pair, Holder]) -> OrderRequest:
    """The request the API would build for this order, hash included."""
    holder = found.get(o.member)
    if holder is None:
        raise MemberNotFoundError(f"no member with {o.member[0]} {o.member[1]}")
    try:
        body = OrderIn(
            order_id=o.order_id,
            member_id=holder.member_id,
            store_code=o.store_code,
            occurred_at=o.occurred_at,
            amount=o.amount,
            payment_method=o.payment_method,
        )
    except ValidationError as exc:
        raise InvalidValueError(validation_reason(exc)) from exc
    return body.to_request(body.store_code)


def validation_reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
    )


def _new_orders(
    session: Session, program_id: int, ready: list[tuple[Row, OrderRequest]], out: ChunkOutcome
) -> list[tuple[Row, OrderRequest]]:
    """Orders not imported yet: the same order again is skipped, another body is a conflict."""
    ids = {req.order_id for _, req in ready}
    seen: dict[str, str] = dict(
        session.execute(  # type: ignore[arg-type]
            select(Order.order_id, Order.request_hash).where(
                Order.program_id == program_id, Order.order_id.in_(ids)
            )
        ).all()
    )
    fresh: list[tuple[Row, OrderRequest]] = []
    for row, req in ready:
        earlier = seen.get(req.order_id)
        if earlier is None:
            seen[req.order_id] = req.request_hash
            fresh.append((row, req))
        elif earlier == req.request_hash:
            out.skipped += 1
        else:
            conflict = OrderConflictError(f"order {req.order_id} exists with other details")
            out.reject(row, describe(conflict))
    return fresh
