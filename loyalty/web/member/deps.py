"""What every member page depends on: the signed-in member, CSRF, the SMS sender, writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from loyalty.api.deps import now_factory, write
from loyalty.config import get_settings
from loyalty.members.login import SESSION_LIFETIME, MemberIdentity, identify_member
from loyalty.members.models import Member
from loyalty.members.service import get_member
from loyalty.notifications.sms import SmsSender, sms_sender
from loyalty.programs.models import Program
from loyalty.programs.service import DEFAULT_CODE, ProgramNotFoundError, get_program_by_code
from loyalty.web.security import check_csrf
from loyalty.web.sessions import SessionCookie, signed_in_as

COOKIE = SessionCookie("loyalty_member", "/m", SESSION_LIFETIME, login_path="/m/login")
T = TypeVar("T")


async def signed_in_member(request: Request) -> MemberIdentity:
    """The signed-in member, or a redirect to the sign-in page (and back here after)."""
    me = await signed_in_as(request, COOKIE, identify_member)
    request.state.member_identity = me
    request.state.csrf_token = me.csrf_token
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
