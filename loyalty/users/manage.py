"""What an owner does to console users: list, change role and stores, reset, unlock, disable.

A program always keeps at least one owner who can sign in: demoting or disabling the last
one is refused (``LastOwnerError``), so nobody can lock the program out of its own console.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import ConflictError, InvalidRequestError, NotFoundError
from loyalty.stores.models import Store
from loyalty.users.models import ConsoleUser, ConsoleUserStore
from loyalty.users.permissions import ROLES, STORE_BOUND
from loyalty.users.service import (
    InvalidUserRoleError,
    end_sessions,
    set_password,
    set_user_stores,
)


class UserNotFoundError(NotFoundError):
    code = "user_not_found"
    title = "User not found"


class LastOwnerError(ConflictError):
    code = "last_owner"
    title = "The program needs at least one active owner"


class OwnPasswordResetError(InvalidRequestError):
    code = "own_password_reset"
    title = "Change your own password under Change password"


@dataclass(frozen=True)
class UserRow:
    """A console user as the owner sees them in the list."""

    user: ConsoleUser
    stores: list[Store]

    def locked(self, now: datetime) -> bool:
        return self.user.locked_until is not None and self.user.locked_until > now


def user_rows(session: Session, program_id: int) -> list[UserRow]:
    """Every console user of the program, by user name, with the stores they work for."""
    users = session.scalars(
        select(ConsoleUser)
        .where(ConsoleUser.program_id == program_id)
        .order_by(ConsoleUser.username)
    ).all()
    stores = stores_by_user(session, [u.id for u in users])
    return [UserRow(u, stores.get(u.id, [])) for u in users]


def stores_by_user(session: Session, user_ids: list[int]) -> dict[int, list[Store]]:
    found: dict[int, list[Store]] = defaultdict(list)
    rows = session.execute(
        select(ConsoleUserStore.user_id, Store)
        .join(Store, Store.id == ConsoleUserStore.store_id)
        .where(ConsoleUserStore.user_id.in_(user_ids))
        .order_by(Store.code)
    )
    for user_id, store in rows:
        found[user_id].append(store)
    return found


def get_user(session: Session, program_id: int, user_id: int) -> ConsoleUser:
    user = session.get(ConsoleUser, user_id)
    if user is None or user.program_id != program_id:
        raise UserNotFoundError(f"console user {user_id} does not exist")
    return user


def _other_active_owners(session: Session, user: ConsoleUser) -> int:
    """Other owners who can sign in, locked (PostgreSQL) so two owners cannot demote each
    other at the same moment; the loser of that race is retried and then refused."""
    query = (
        select(ConsoleUser.id)
        .where(
            ConsoleUser.program_id == user.program_id,
            ConsoleUser.role == "owner",
            ConsoleUser.disabled_at.is_(None),
            ConsoleUser.id != user.id,
        )
        .with_for_update()
    )
    return len(session.scalars(query).all())


def _keep_an_owner(session: Session, user: ConsoleUser) -> None:
    """Refuse to take away the last active owner."""
    if (
        user.role == "owner"
        and user.disabled_at is None
        and not _other_active_owners(session, user)
    ):
        raise LastOwnerError(f"{user.username} is the last active owner")


def update_user(
    session: Session,
    user: ConsoleUser,
    *,
    display_name: str,
    role: str,
    store_codes: list[str],
) -> ConsoleUser:
    """A new name, role and stores (store-bound roles need a store; others keep none)."""
    if role not in ROLES:
        raise InvalidUserRoleError(f"role {role!r}: use one of {', '.join(ROLES)}")
    if role != "owner":
        _keep_an_owner(session, user)
    user.display_name = display_name.strip() or user.username
    user.role = role
    set_user_stores(session, user, store_codes if role in STORE_BOUND else [])
    return user


def reset_password(session: Session, user: ConsoleUser, password: str, by_user_id: int) -> None:
    """The owner sets a new password for someone else; their sessions end."""
    if user.id == by_user_id:
        raise OwnPasswordResetError("use the Change password page for your own account")
    set_password(session, user, password)


def unlock(session: Session, user: ConsoleUser) -> None:
    """Lift a lockout caused by wrong passwords."""
    user.locked_until = None
    user.failed_logins = 0
    session.flush()


def set_disabled(session: Session, user: ConsoleUser, disabled: bool, now: datetime) -> None:
    """Disable (every session ends; signing in is refused) or enable a user again."""
    if disabled:
        _keep_an_owner(session, user)
        user.disabled_at = user.disabled_at or now
        end_sessions(session, user.id)
    else:
        user.disabled_at = None
    session.flush()
