"""Change stores from the console: edit, deactivate, and the list with members registered."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.members.models import Member
from loyalty.stores.models import Store
from loyalty.stores.service import get_store


@dataclass(frozen=True)
class StoreRow:
    """A store as the console lists it, with how many members registered there."""

    store: Store
    members: int


def store_rows(
    session: Session, program_id: int, only: Collection[int] | None = None
) -> list[StoreRow]:
    """Every store of the program (or only the stores ``only`` names), by code."""
    counts = (
        select(Member.store_id, func.count().label("n"))
        .where(Member.program_id == program_id, Member.store_id.is_not(None))
        .group_by(Member.store_id)
        .subquery()
    )
    query = (
        select(Store, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.store_id == Store.id)
        .where(Store.program_id == program_id)
        .order_by(Store.code)
    )
    if only is not None:
        query = query.where(Store.id.in_(list(only)))
    return [StoreRow(store, int(n)) for store, n in session.execute(query)]


def all_stores(session: Session, program_id: int) -> list[Store]:
    """Every store of the program by code (for pick lists; no counting)."""
    query = select(Store).where(Store.program_id == program_id).order_by(Store.code)
    return list(session.scalars(query))


def update_store(
    session: Session,
    program_id: int,
    code: str,
    *,
    name: str,
    channel: str,
    region: str | None,
    groups: list[str],
) -> Store:
    """New name, channel, region and groups for a store (its code never changes)."""
    store = get_store(session, program_id, code)
    store.name = name
    store.channel = channel
    store.region = region
    store.groups = list(groups)
    session.flush()
    return store


def set_store_active(session: Session, program_id: int, code: str, active: bool) -> Store:
    """Deactivate (or reactivate) a store; its members, history and reports stay."""
    store = get_store(session, program_id, code)
    store.active = active
    session.flush()
    return store
