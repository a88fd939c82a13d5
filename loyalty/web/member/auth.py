"""Members sign in with their phone and a one-time SMS code; a new phone joins the program."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import get_db, now_factory, write
from loyalty.config import get_settings
from loyalty.errors import LoyaltyError
from loyalty.members.identifiers import normalise_phone
from loyalty.members.login import (
    check_code,
    close_member_session,
    code_message,
    forget_code,
    issue_code,
    member_for_phone,
    open_member_session,
)
from loyalty.notifications.sms import mask_phone
from loyalty.web.console.auth import safe_next
from loyalty.web.member.deps import COOKIE, Me, member_write, sender, sign_in_program
from loyalty.web.security import (
    RateLimiter,
    check_pre_session,
    client_ip,
    pre_session_token,
    set_pre_session_cookie,
)
from loyalty.web.templating import render, translate

router = APIRouter()
code_limiter = RateLimiter(limit=20, window=600.0)  # codes asked for, per address
verify_limiter = RateLimiter(limit=30, window=60.0)  # codes tried, per address

Phone = Annotated[str, Form(max_length=32)]
Next = Annotated[str, Form(max_length=500)]
Ref = Annotated[str, Form(max_length=12)]


def _login_page(
    request: Request,
    *,
    step: str = "phone",
    phone: str = "",
    next: str | None = None,
    ref: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    token = pre_session_token(request)
    context = {
        "step": step,
        "phone": phone,
        "masked": mask_phone(phone) if phone else "",
        "next": safe_next(next or request.query_params.get("next"), "/m"),
        "ref": (ref or request.query_params.get("ref", ""))[:12],
        "error": error,
    }
    response = render(request, "member/login.html", context, status_code=status)
    set_pre_session_cookie(response, token, get_settings().cookie_secure)
    return response


@router.get("/m/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/m/login/code")
async def ask_for_code(
    request: Request, phone: Phone, next: Next = "/m", ref: Ref = ""
) -> Response:
    """Send a sign-in code to the phone (a new phone gets one too: it joins on sign-in)."""
    await check_pre_session(request)
    try:
        code_limiter.hit(client_ip(request))
        await run_in_threadpool(_issue_and_send, request, phone)
    except LoyaltyError as exc:
        step = "code" if exc.status == 429 and _valid(phone) else "phone"
        message = translate(request, exc.title)
        return _login_page(
            request, step=step, phone=phone, next=next, ref=ref, error=message, status=exc.status
        )
    return _login_page(request, step="code", phone=phone.strip(), next=next, ref=ref)


def _valid(phone: str) -> bool:
    try:
        normalise_phone(phone)
    except LoyaltyError:
        return False
    return True


def _issue_and_send(request: Request, phone: str) -> None:
    """Commit the code first (so the limits hold), then send it; forget it if sending fails."""
    program_id = _program_id(request)
    issued = member_write(
        request,
        lambda session, now: issue_code(session, program_id, phone, client_ip(request), now),
    )
    try:
        sender(request).send(issued.phone, code_message(issued.code))
    except LoyaltyError:
        write(request, lambda session: forget_code(session, issued.id))
        raise


def _program_id(request: Request) -> int:
    with get_db(request).reader() as session:
        return sign_in_program(session).id


@router.post("/m/login")
async def sign_in(
    request: Request,
    phone: Phone,
    code: Annotated[str, Form(max_length=12)],
    next: Next = "/m",
    ref: Ref = "",
) -> Response:
    """Check the code; the right one opens a session (and registers a phone new to us)."""
    await check_pre_session(request)
    try:
        verify_limiter.hit(client_ip(request))
        token = await run_in_threadpool(_sign_in, request, phone, code, ref)
    except LoyaltyError as exc:
        message = translate(request, exc.title)
        return _login_page(
            request, step="code", phone=phone, next=next, ref=ref, error=message, status=exc.status
        )
    response = RedirectResponse(safe_next(next, "/m"), status_code=303)
    COOKIE.set_on(response, token)
    return response


def _sign_in(request: Request, phone: str, code: str, ref: str) -> str:
    now = now_factory(request)()

    def attempt(session: Session) -> str | LoyaltyError:
        program = sign_in_program(session)
        checked = check_code(session, program.id, phone, code, now)
        if isinstance(checked, LoyaltyError):
            return checked  # committed: the attempt counts
        member = member_for_phone(session, program, checked, ref.strip().upper(), now)
        return open_member_session(session, member, now)

    outcome = write(request, attempt)
    if isinstance(outcome, LoyaltyError):
        raise outcome
    return outcome


@router.post("/m/logout")
def sign_out(request: Request, me: Me) -> Response:
    token = request.cookies.get(COOKIE.name, "")
    write(request, lambda session: close_member_session(session, token))
    response = RedirectResponse("/m/login", status_code=303)
    COOKIE.delete_from(response)
    return response
