"""Create and find stores."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.errors import ConflictError, InvalidRequestError, NotFoundError
from loyalty.programs.cache import RowCache, detached_copy
from loyalty.stores.models import Store


class StoreNotFoundError(NotFoundError):
    code = "store_not_found"
    title = "Store not found"


class UnknownStoreError(InvalidRequestError):
    """A body names a store code the program does not have."""

    code = "unknown_store"
    title = "Unknown store"


class StoreInactiveError(InvalidRequestError):
    """A deactivated (closed) store takes no new business: orders, sign-ups, redemptions."""

    code = "store_inactive"
    title = "Store is deactivated"


class StoreCodeTakenError(ConflictError):
    code = "store_code_taken"
    title = "Store code already exists"


def create_store(
    session: Session,
    program_id: int,
    *,
    code: str,
    name: str,
    channel: str,
    region: str | None,
    groups: list[str],
    now: datetime,
) -> Store:
    store = Store(
        program_id=program_id,
        code=code,
        name=name,
        channel=channel,
        region=region,
        groups=groups,
        active=True,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(store)
    except IntegrityError as exc:
        raise StoreCodeTakenError(f"store {code!r} already exists") from exc
    return store


def find_store(session: Session, program_id: int, code: str) -> Store | None:
    return session.scalar(select(Store).where(Store.program_id == program_id, Store.code == code))


_stores: RowCache[tuple[int, str], Store] = RowCache(Store)


def stores_by_code(session: Session, program_id: int, codes: set[str]) -> dict[str, Store]:
    """The program's stores with these codes (unknown codes left out), from this process's
    cache when fresh (see ``programs.cache``). They belong to no session: read them only."""
    found: dict[str, Store] = {}
    for code in codes:
        hit = _stores.get(session, (program_id, code))
        if hit is not None:
            found[code] = hit
    missing = codes - found.keys()
    if missing:
        rows = session.scalars(
            select(Store).where(Store.program_id == program_id, Store.code.in_(missing))
        )
        for store in rows:
            found[store.code] = copy = detached_copy(store)
            _stores.put(session, (program_id, store.code), copy)
    return found


def get_store(session: Session, program_id: int, code: str) -> Store:
    store = find_store(session, program_id, code)
    if store is None:
        raise StoreNotFoundError(f"store {code!r} does not exist")
    return store


def resolve_store(session: Session, program_id: int, code: str | None) -> Store | None:
    """The store a request body names, or ``None`` when it names none."""
    if code is None:
        return None
    store = find_store(session, program_id, code)
    if store is None:
        raise UnknownStoreError(f"store {code!r} does not exist", field="store_code")
    return open_store(store)


def open_store(store: Store) -> Store:
    """The store, if it still takes new business (422 ``store_inactive`` if deactivated)."""
    if not store.active:
        raise StoreInactiveError(f"store {store.code!r} is deactivated", field="store_code")
    return store


def list_stores(session: Session, program_id: int, after: int, limit: int) -> list[Store]:
    return list(
        session.scalars(
            select(Store)
            .where(Store.program_id == program_id, Store.id > after)
            .order_by(Store.id)
            .limit(limit)
        )
    )
