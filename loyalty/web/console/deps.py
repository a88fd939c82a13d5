"""What every console page depends on: the signed-in user, their role, CSRF and writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import get_db, now_factory, write
from loyalty.errors import PermissionDeniedError
from loyalty.programs.models import Program
from loyalty.users.audit import record
from loyalty.users.service import ConsoleIdentity, identify
from loyalty.web.errors import SignInRequired
from loyalty.web.security import check_csrf, client_ip

COOKIE = "loyalty_console"
T = TypeVar("T")


def _load_identity(request: Request, token: str) -> tuple[ConsoleIdentity | None, str]:
    with get_db(request).reader() as session:
        who = identify(session, token, now_factory(request)())
        zone = (
            session.scalar(select(Program.timezone).where(Program.id == who.program_id))
            if who
            else None
        )
    return who, zone or "Asia/Shanghai"


async def signed_in(request: Request) -> ConsoleIdentity:
    """The signed-in user, or a redirect to the sign-in page."""
    token = request.cookies.get(COOKIE)
    who, zone = await run_in_threadpool(_load_identity, request, token) if token else (None, "")
    if who is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(f"/console/login?next={quote(target)}")
    request.state.identity = who
    request.state.timezone = zone
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
