"""Per-process caches of the settings rows that every order reads (program, stores).

An entry lives ``TTL_SECONDS`` at most. A change written through the ORM in this process
clears the cache at once: when it is flushed, and again when its transaction ends (commit or
rollback), so that a request reading meanwhile cannot put the row back as it was before.
Another process (another API worker) sees a change within ``TTL_SECONDS``: a program setting,
a rule or a tier (through the program's ``rules_stamp``) or a store's channel and groups.
A change written with a Core ``update()`` of these tables bypasses the ORM events: it is seen
within ``TTL_SECONDS`` too, in this process as in the others.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, event, inspect
from sqlalchemy.orm import Session, make_transient_to_detached

TTL_SECONDS = 2.0
_PENDING = "loyalty_caches_to_clear"

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RowCache(Generic[K, V]):
    """Values keyed by database and row, forgotten when a row of ``models`` changes."""

    def __init__(self, *models: type[Any]) -> None:
        self._entries: dict[tuple[Any, K], tuple[float, V]] = {}
        for model in models:
            for name in ("after_insert", "after_update", "after_delete"):
                event.listen(model, name, self._changed)

    def get(self, session: Session, key: K) -> V | None:
        hit = self._entries.get((_database(session), key))
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, session: Session, key: K, value: V) -> None:
        self._entries[(_database(session), key)] = (time.monotonic() + TTL_SECONDS, value)

    def clear(self) -> None:
        self._entries.clear()

    def _changed(self, _mapper: Any, connection: Connection, _target: Any) -> None:
        self.clear()
        connection.info.setdefault(_PENDING, set()).add(self)


def _database(session: Session) -> Any:
    return session.get_bind().engine.url


def detached_copy(obj: V) -> V:
    """A copy of a loaded row that belongs to no session, safe to share between threads for
    reading: every column is loaded, nothing lazy is left to fetch."""
    mapper = inspect(type(obj))
    copy = type(obj)(**{a.key: getattr(obj, a.key) for a in mapper.column_attrs})
    make_transient_to_detached(copy)
    return copy


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _transaction_ended(connection: Connection) -> None:
    for cache in connection.info.pop(_PENDING, ()):
        cache.clear()
