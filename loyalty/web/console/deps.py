"""What every console page depends on: the signed-in user, their role, CSRF and writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy.orm import Session

from loyalty.api.deps import now_factory, write
from loyalty.errors import PermissionDeniedError
from loyalty.users.audit import record
from loyalty.users.service import SESSION_LIFETIME, ConsoleIdentity, identify
from loyalty.web.security import check_csrf, client_ip
from loyalty.web.sessions import SessionCookie, signed_in_as

COOKIE = SessionCookie("loyalty_console", "/", SESSION_LIFETIME, login_path="/console/login")
T = TypeVar("T")


async def signed_in(request: Request) -> ConsoleIdentity:
    """The signed-in user, or a redirect to the sign-in page."""
    who = await signed_in_as(request, COOKIE, identify)
    request.state.identity = who
    return who


def require(capability: str) -> Callable[[Request], Awaitable[ConsoleIdentity]]:
    """A dependency: the signed-in user, if their role has ``capability``.

    State-changing requests (POST, PUT, DELETE) must also carry the session's CSRF token.
    """

    async def check(request: Request) -> ConsoleIdentity:
        who = await signed_in(request)
        if not who.can(capability):
            raise PermissionDeniedError(f"role {who.role!r} may not use {capability}")
        await check_csrf(request, who.csrf_token)
        return who

    return check


def require_store(who: ConsoleIdentity, store_id: int | None) -> None:
    """Managers and clerks act only for their own stores."""
    if not who.sees_store(store_id):
        raise PermissionDeniedError("this belongs to another store")


def console_write(
    request: Request,
    who: ConsoleIdentity,
    action: str,
    work: Callable[[Session, datetime], T],
    target: Callable[[T], tuple[str, object]] | None = None,
    **details: Any,
) -> T:
    """Run a console change in one transaction together with its audit entry."""
    clock = now_factory(request)

    def run(session: Session) -> T:
        now = clock()
        result = work(session, now)
        aim = target(result) if target else None
        record(session, who, action, now, aim, client_ip(request), **details)
        return result

    return write(request, run)
