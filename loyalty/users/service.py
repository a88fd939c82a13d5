"""Console users: create, sign in with lockout, sessions, password changes.

Passwords are hashed with argon2id. Five wrong passwords in a row lock the account for 15
minutes; the lock is stored on the user so every server process sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loyalty.errors import AuthenticationError, ConflictError, InvalidRequestError
from loyalty.stores.models import Store
from loyalty.tokens import digest, expired, new_session
from loyalty.users.models import ConsoleSession, ConsoleUser, ConsoleUserStore
from loyalty.users.permissions import ROLES, STORE_BOUND, can

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()


class InvalidCredentialsError(AuthenticationError):
    code = "invalid_credentials"
    title = "Wrong user name or password"


class AccountLockedError(AuthenticationError):
    code = "account_locked"
    title = "Too many wrong passwords; try again later"


class UsernameTakenError(ConflictError):
    code = "username_taken"
    title = "User name already taken"


class WeakPasswordError(InvalidRequestError):
    code = "weak_password"
    title = "Password too short"


class InvalidUserRoleError(InvalidRequestError):
    code = "invalid_role"
    title = "Unknown role"


@dataclass(frozen=True)
class ConsoleIdentity:
    """The signed-in user as pages see it."""

    user_id: int
    program_id: int
    username: str
    display_name: str
    role: str
    store_ids: frozenset[int]
    csrf_token: str

    @property
    def store_bound(self) -> bool:
        return self.role in STORE_BOUND

    def can(self, capability: str) -> bool:
        return can(self.role, capability)

    def sees_store(self, store_id: int | None) -> bool:
        """HQ roles see every store; managers and clerks only their own."""
        return not self.store_bound or store_id in self.store_ids


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"use at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def create_user(
    session: Session,
    program_id: int,
    username: str,
    password: str,
    role: str,
    now: datetime,
    display_name: str | None = None,
    store_codes: list[str] | None = None,
) -> ConsoleUser:
    """A new console user; managers and clerks need at least one store."""
    if role not in ROLES:
        raise InvalidUserRoleError(f"role {role!r}: use one of {', '.join(ROLES)}")
    username = username.strip().lower()
    if not username:
        raise InvalidRequestError("a user name is required")
    if find_user(session, program_id, username) is not None:
        raise UsernameTakenError(f"user {username!r} already exists")
    user = ConsoleUser(
        program_id=program_id,
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=hash_password(password),
        failed_logins=0,
        created_at=now,
    )
    session.add(user)
    session.flush()
    set_user_stores(session, user, store_codes or [])
    return user


def set_user_stores(session: Session, user: ConsoleUser, store_codes: list[str]) -> None:
    """Replace the stores a user works for (required for store-bound roles)."""
    if user.role in STORE_BOUND and not store_codes:
        raise InvalidRequestError(f"a {user.role} needs at least one store")
    stores = session.scalars(
        select(Store).where(Store.program_id == user.program_id, Store.code.in_(store_codes))
    ).all()
    missing = set(store_codes) - {s.code for s in stores}
    if missing:
        raise InvalidRequestError(f"unknown store(s): {', '.join(sorted(missing))}")
    session.execute(delete(ConsoleUserStore).where(ConsoleUserStore.user_id == user.id))
    session.add_all(ConsoleUserStore(user_id=user.id, store_id=s.id) for s in stores)
    session.flush()


def find_user(session: Session, program_id: int, username: str) -> ConsoleUser | None:
    return session.scalar(
        select(ConsoleUser).where(
            ConsoleUser.program_id == program_id,
            ConsoleUser.username == username.strip().lower(),
        )
    )


def authenticate(
    session: Session, program_id: int, username: str, password: str, now: datetime
) -> ConsoleUser:
    """The user if the password is right; counts failures and locks after too many."""
    user = find_user(session, program_id, username)
    if user is None or user.disabled_at is not None:
        _hasher.hash(password)  # the same work either way: no timing hint that a user exists
        raise InvalidCredentialsError()
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLockedError(f"locked until {user.locked_until.isoformat()}")
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        session.flush()
        raise InvalidCredentialsError()
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.flush()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(
    session: Session, user: ConsoleUser, current: str, new: str, keep_token: str | None
) -> None:
    """Set a new password after checking the current one; other sessions are signed out."""
    if not _verify(user.password_hash, current):
        raise InvalidCredentialsError("the current password is wrong")
    user.password_hash = hash_password(new)
    end_sessions(session, user.id, keep=keep_token)


def open_session(session: Session, user: ConsoleUser, now: datetime) -> str:
    """A new session; returns the cookie token (stored only as its digest)."""
    new = new_session(now, SESSION_LIFETIME)
    session.add(
        ConsoleSession(
            token_hash=new.token_hash,
            user_id=user.id,
            csrf_token=new.csrf_token,
            created_at=now,
            expires_at=new.expires_at,
        )
    )
    session.flush()
    return new.token


def identify(session: Session, token: str, now: datetime) -> ConsoleIdentity | None:
    """The signed-in user behind a cookie token, or None if it is unknown or expired."""
    row = session.execute(
        select(ConsoleSession, ConsoleUser)
        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    console_session, user = row
    if expired(console_session.expires_at, now) or user.disabled_at is not None:
        return None
    store_ids = session.scalars(
        select(ConsoleUserStore.store_id).where(ConsoleUserStore.user_id == user.id)
    ).all()
    return ConsoleIdentity(
        user_id=user.id,
        program_id=user.program_id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        store_ids=frozenset(store_ids),
        csrf_token=console_session.csrf_token,
    )


def close_session(session: Session, token: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == digest(token)))


def end_sessions(session: Session, user_id: int, keep: str | None = None) -> None:
    """Sign a user out everywhere (but ``keep``, the session making the change)."""
    query = delete(ConsoleSession).where(ConsoleSession.user_id == user_id)
    if keep is not None:
        query = query.where(ConsoleSession.token_hash != digest(keep))
    session.execute(query)


def prune_sessions(session: Session, as_of: datetime) -> int:
    """Delete sessions expired by ``as_of`` (they open nothing, but would pile up)."""
    done = session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= as_of))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def set_password(session: Session, user: ConsoleUser, password: str) -> None:
    """An owner's reset: a new password, the lock lifted, every session ended."""
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(session, user.id)
    session.flush()
