"""What every member page depends on: the signed-in member, CSRF, the SMS sender, writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import get_db, now_factory, write
from loyalty.config import get_settings
from loyalty.members.login import SESSION_LIFETIME, MemberIdentity, identify_member
from loyalty.members.models import Member
from loyalty.members.service import get_member
from loyalty.notifications.sms import SmsSender, sms_sender
from loyalty.programs.models import Program
from loyalty.programs.service import DEFAULT_CODE, ProgramNotFoundError, get_program_by_code
from loyalty.web.errors import SignInRequired
from loyalty.web.security import check_csrf

COOKIE = "loyalty_member"
COOKIE_PATH = "/m"
T = TypeVar("T")


def _load_identity(request: Request, token: str) -> tuple[MemberIdentity | None, str]:
    with get_db(request).reader() as session:
        me = identify_member(session, token, now_factory(request)())
        zone = (
            session.scalar(select(Program.timezone).where(Program.id == me.program_id))
            if me
            else None
        )
    return me, zone or "Asia/Shanghai"


async def signed_in_member(request: Request) -> MemberIdentity:
    """The signed-in member, or a redirect to the sign-in page (and back here after)."""
    token = request.cookies.get(COOKIE)
    me, zone = await run_in_threadpool(_load_identity, request, token) if token else (None, "")
    if me is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(f"/m/login?next={quote(target)}")
    request.state.member_identity = me
    request.state.csrf_token = me.csrf_token
    request.state.timezone = zone
    return me


async def require_member(request: Request) -> MemberIdentity:
    """The signed-in member; a POST must also carry the session's CSRF token."""
    me = await signed_in_member(request)
    await check_csrf(request, me.csrf_token)
    return me


Me = Annotated[MemberIdentity, Depends(require_member)]


def load_member(session: Session, me: MemberIdentity) -> Member:
    return get_member(session, me.program_id, me.member_id)


def program_of(session: Session, me: MemberIdentity) -> Program:
    program = session.get(Program, me.program_id)
    if program is None:
        raise ProgramNotFoundError(f"program {me.program_id} does not exist")
    return program


def sign_in_program(session: Session) -> Program:
    """Members of the default program sign in on this page."""
    program = get_program_by_code(session, DEFAULT_CODE)
    if program is None:
        raise ProgramNotFoundError("run 'loyalty init' to create the program")
    return program


def sender(request: Request) -> SmsSender:
    """The SMS sender: ``app.state.sms_sender`` when set (tests, embedding), else the settings'."""
    chosen: SmsSender | None = getattr(request.app.state, "sms_sender", None)
    return chosen or sms_sender(get_settings())


def member_write(request: Request, work: Callable[[Session, datetime], T]) -> T:
    """Run a member's change in one transaction, committed before the answer is sent."""
    clock = now_factory(request)
    return write(request, lambda session: work(session, clock()))


def set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=get_settings().cookie_secure,
        path=COOKIE_PATH,
        max_age=int(SESSION_LIFETIME.total_seconds()),
    )
