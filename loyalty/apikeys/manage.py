"""API keys as the console manages them: the list and revoking one.

A revoked key is refused at once by the process that revoked it. Every other API process
remembers a key it checked for ``api_key_cache_seconds`` (5 s by default), so there a revoked
key keeps working for at most that long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.apikeys.models import ApiKey
from loyalty.apikeys.service import revoke_key
from loyalty.errors import NotFoundError
from loyalty.stores.models import Store


class ApiKeyNotFoundError(NotFoundError):
    code = "api_key_not_found"
    title = "API key not found"


@dataclass(frozen=True)
class KeyRow:
    """A key as listed: never its secret, only the prefix that identifies it."""

    key: ApiKey
    store_code: str | None
    store_name: str | None


def key_rows(session: Session, program_id: int) -> list[KeyRow]:
    """The program's keys, live ones first, newest first."""
    rows = session.execute(
        select(ApiKey, Store.code, Store.name)
        .outerjoin(Store, Store.id == ApiKey.store_id)
        .where(ApiKey.program_id == program_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
    )
    return [KeyRow(key, code, name) for key, code, name in rows]


def get_key(session: Session, program_id: int, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.program_id != program_id:
        raise ApiKeyNotFoundError(f"API key {key_id} does not exist")
    return key


def revoke(session: Session, program_id: int, key_id: int, now: datetime) -> ApiKey:
    """Revoke a key for good; revoking it again keeps the first time."""
    key = get_key(session, program_id, key_id)
    if key.revoked_at is None:
        revoke_key(session, program_id, key_id, now)
        session.flush()
    return key
