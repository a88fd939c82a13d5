"""Request dependencies: the database, the caller, and the transaction each request owns.

Where a request's database work runs (``inline``): most endpoints are plain ``def`` and run in
the thread pool. The hot, short reads (a balance, a member looked up) are ``async def`` and do
their round trip on the event loop itself: handing a request to a thread and back costs more
CPU than the work (measured: /healthz answers 3,300/s from the pool, 9,400/s inline, on one
core). Such work must stay short and bounded; reports, batches and anything that may wait long
stay in the pool. Single orders are gathered on the loop and posted in groups by a thread of
their own (``orders.groups``), where one hand-off serves many orders.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.responses import json_response
from loyalty.apikeys.service import Principal, authenticate, cached_principal
from loyalty.config import get_settings
from loyalty.db.base import utcnow
from loyalty.db.engine import Database
from loyalty.errors import AuthenticationError, PermissionDeniedError

T = TypeVar("T")
RETRIES = 4


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def now_factory(request: Request) -> Callable[[], datetime]:
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return clock


async def current_principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <API key>`` (documented as the API's security
    scheme). A key this process checked lately costs no thread and no query; otherwise the
    check runs in the thread pool, like any blocking database work."""
    authorization = request.headers.get("authorization")
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthenticationError("send 'Authorization: Bearer <API key>'")
    token = authorization[7:].strip()
    cached = cached_principal(token)
    if cached is not None:
        return cached
    return await run_in_threadpool(_authenticate, get_db(request), token)


def _authenticate(db: Database, token: str) -> Principal:
    with db.reader() as session:
        return authenticate(session, token, get_settings().api_key_cache_seconds)


def allow(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting admins and the given roles: one level, the header read directly
    (each level of dependencies FastAPI solves costs a hot read about a tenth of its CPU)."""

    async def check(request: Request) -> Principal:
        principal = await current_principal(request)
        if principal.role != "admin" and principal.role not in roles:
            raise PermissionDeniedError(f"role {principal.role!r} may not do this")
        return principal

    return check


Reader = Annotated[Principal, Depends(allow("pos", "readonly"))]
Till = Annotated[Principal, Depends(allow("pos"))]
Admin = Annotated[Principal, Depends(allow())]
Analyst = Annotated[Principal, Depends(allow("readonly"))]


def require_store(principal: Principal, store_code: str | None) -> str | None:
    """A till's key acts for its own store only; it is the default store of its requests."""
    if principal.store_code is None:
        return store_code
    if store_code is not None and store_code != principal.store_code:
        raise PermissionDeniedError(
            f"this key belongs to store {principal.store_code}, not {store_code}"
        )
    return principal.store_code


@contextmanager
def reading(request: Request) -> Iterator[Session]:
    with get_db(request).reader() as session:
        yield session


def write(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction, committed before the answer is sent (``write_to``)."""
    return write_to(get_db(request), work)


def write_to(db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction of ``db``, committed on return.

    A transaction that lost a race (a concurrent insert of the same key, a deadlock, a
    serialization failure) is rolled back and run again, so the caller sees either the first
    answer or a clean error, never a half-written state.
    """
    for attempt in range(RETRIES):
        try:
            with db.transaction() as session:
                return work(session)
        except (IntegrityError, DBAPIError) as exc:
            if attempt == RETRIES - 1 or not _retryable(exc):
                raise
            time.sleep(0.005 * (attempt + 1))
    raise AssertionError("unreachable")


def _retryable(exc: Exception) -> bool:
    """Lost races: a unique key taken meanwhile, a deadlock, a serialization failure."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    text = str(exc)
    return (
        sqlstate in {"23505", "40001", "40P01", "55P03"}
        or "UNIQUE constraint failed" in text
        or "database is locked" in text
    )


IdempotencyKey = Annotated[
    str | None,
    Header(description="Retrying with the same key and body returns the first answer"),
]
Work = Callable[[Session, datetime], tuple[int, dict[str, Any]]]


def mutate(
    request: Request, principal: Principal, key: str | None, identity: Any, work: Work
) -> Response:
    """A state-changing call: one transaction, honouring ``Idempotency-Key``."""
    from loyalty.api.idempotency import once

    now = now_factory(request)()
    status, body = write(
        request,
        lambda session: once(
            session,
            principal.program_id,
            key,
            [request.url.path, identity],
            now,
            lambda: work(session, now),
        ),
    )
    return json_response(body, status)
