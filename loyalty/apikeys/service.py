"""Create, check and revoke API keys. Keys are shown once and stored as SHA-256 digests.

A key is 32 random bytes, so a fast digest is as safe as a slow password hash here and costs
nothing per request.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.apikeys.models import ROLES, ApiKey
from loyalty.errors import AuthenticationError, InvalidRequestError
from loyalty.stores.models import Store
from loyalty.stores.service import get_store
from loyalty.tokens import digest


class InvalidRoleError(InvalidRequestError):
    code = "invalid_role"
    title = "Unknown role"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's program, role and (for a till) store."""

    key_id: int
    name: str
    program_id: int
    role: str
    store_id: int | None
    store_code: str | None

    @property
    def actor(self) -> str:
        return f"apikey:{self.name}"


def create_key(
    session: Session,
    program_id: int,
    name: str,
    role: str,
    store_code: str | None,
    now: datetime,
) -> tuple[ApiKey, str]:
    """A new key and its secret (``lk_<prefix>_<secret>``), which is not stored."""
    if role not in ROLES:
        raise InvalidRoleError(f"role {role!r}: use one of {', '.join(ROLES)}")
    store = get_store(session, program_id, store_code) if store_code else None
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = f"lk_{prefix}_{secret}"
    key = ApiKey(
        program_id=program_id,
        name=name,
        role=role,
        store_id=store.id if store else None,
        prefix=prefix,
        key_hash=digest(token),
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key, token


_cache: dict[str, tuple[float, Principal]] = {}


def cached_principal(token: str) -> Principal | None:
    """The principal this process checked the token for lately, if any (no database)."""
    hit = _cache.get(token)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    return None


def authenticate(session: Session, token: str, cache_seconds: float = 0.0) -> Principal:
    """The principal a bearer token stands for; 401 if it is unknown or revoked.

    With ``cache_seconds`` the answer is kept that long per process: a key revoked in another
    process keeps working here for at most that long (this process forgets at once).
    """
    hit = cached_principal(token)
    if hit is not None:
        return hit
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "lk":
        raise AuthenticationError("malformed API key")
    row = session.execute(
        select(ApiKey, Store.code)
        .outerjoin(Store, Store.id == ApiKey.store_id)
        .where(ApiKey.prefix == parts[1])
    ).first()
    if row is None or not hmac.compare_digest(row[0].key_hash, digest(token)):
        raise AuthenticationError("unknown API key")
    key, store_code = row
    if key.revoked_at is not None:
        raise AuthenticationError("this API key was revoked")
    principal = Principal(key.id, key.name, key.program_id, key.role, key.store_id, store_code)
    if cache_seconds > 0:
        _cache[token] = (time.monotonic() + cache_seconds, principal)
    return principal


def revoke_key(session: Session, program_id: int, key_id: int, now: datetime) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    if key is None or key.program_id != program_id:
        return None
    key.revoked_at = now
    _cache.clear()
    return key
