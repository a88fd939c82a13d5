"""Sign-in session tokens, the same for console users and members.

A session is a random cookie token that the database knows only by its SHA-256 digest (a
stolen table opens no session), a CSRF token of its own for the forms it signs, and an expiry
time after which the token stops working. Each side keeps its sessions in its own table
(``console_sessions``, ``member_sessions``) with its own lifetime; this module only mints
and checks, it reads no database and no clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

TOKEN_BYTES = 32


@dataclass(frozen=True)
class NewSession:
    """A session about to be stored.

    token: goes in the cookie, and nowhere else.
    token_hash: ``digest(token)``, what the session row stores and is looked up by.
    csrf_token: the token the session's forms must send back.
    expires_at: when the session stops working.
    """

    token: str
    token_hash: str
    csrf_token: str
    expires_at: datetime


def new_session(now: datetime, lifetime: timedelta) -> NewSession:
    """Fresh random tokens for a session that lives ``lifetime`` from ``now``."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return NewSession(
        token=token,
        token_hash=digest(token),
        csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
        expires_at=now + lifetime,
    )


def digest(value: str) -> str:
    """The SHA-256 of a token, in hex: what is stored instead of the token itself."""
    return hashlib.sha256(value.encode()).hexdigest()


def expired(expires_at: datetime, now: datetime) -> bool:
    """Whether a session (or anything else that ends at ``expires_at``) has ended by ``now``."""
    return expires_at <= now
