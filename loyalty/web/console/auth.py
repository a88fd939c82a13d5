"""Sign in, sign out, change password, switch language."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import get_db, now_factory, write
from loyalty.config import get_settings
from loyalty.errors import LoyaltyError
from loyalty.programs.service import DEFAULT_CODE, get_program_by_code
from loyalty.users.audit import record
from loyalty.users.models import ConsoleUser
from loyalty.users.service import (
    ConsoleIdentity,
    authenticate,
    change_password,
    close_session,
    open_session,
)
from loyalty.web.console.deps import COOKIE, require, signed_in
from loyalty.web.i18n import LOCALES
from loyalty.web.security import (
    RateLimiter,
    check_pre_session,
    client_ip,
    pre_session_token,
    set_pre_session_cookie,
)
from loyalty.web.templating import render, translate

router = APIRouter()
login_limiter = RateLimiter(limit=10, window=60.0)


def safe_next(target: str | None, default: str = "/console") -> str:
    """Only redirect within this site (no ``//evil.example``)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = pre_session_token(request)
    response = render(
        request,
        "console/login.html",
        {"error": error, "next": safe_next(request.query_params.get("next"))},
        status_code=status,
    )
    set_pre_session_cookie(response, token, get_settings().cookie_secure)
    return response


@router.get("/console/login", include_in_schema=False)
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/console/login", include_in_schema=False)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    await check_pre_session(request)
    try:
        login_limiter.hit(client_ip(request))
        token = await _sign_in(request, username, password)
    except LoyaltyError as exc:
        message = translate(request, exc.title)
        return _login_page(request, message, status=exc.status)
    response = RedirectResponse(safe_next(next), status_code=303)
    COOKIE.set_on(response, token)
    return response


async def _sign_in(request: Request, username: str, password: str) -> str:
    return await run_in_threadpool(_sign_in_sync, request, username, password)


def _sign_in_sync(request: Request, username: str, password: str) -> str:
    """A new session token, or the sign-in error (a wrong password is still counted)."""
    now = now_factory(request)()
    with get_db(request).reader() as session:
        program = get_program_by_code(session, DEFAULT_CODE)
    program_id = program.id if program else 0

    def attempt(session: Session) -> str | LoyaltyError:
        try:
            user = authenticate(session, program_id, username, password, now)
        except LoyaltyError as exc:
            return exc  # committed: the failure count and any lockout must stick
        who = ConsoleIdentity(
            user.id, user.program_id, user.username, user.display_name, user.role, frozenset(), ""
        )
        record(session, who, "user.sign_in", now, ip=client_ip(request))
        return open_session(session, user, now)

    outcome = write(request, attempt)
    if isinstance(outcome, LoyaltyError):
        raise outcome
    return outcome


@router.post("/console/logout", include_in_schema=False)
def logout(
    request: Request, who: Annotated[ConsoleIdentity, Depends(require("members.view"))]
) -> Response:
    token = request.cookies.get(COOKIE.name, "")
    write(request, lambda session: close_session(session, token))
    response = RedirectResponse("/console/login", status_code=303)
    COOKIE.delete_from(response)
    return response


@router.get("/console/password", include_in_schema=False)
def password_form(
    request: Request, who: Annotated[ConsoleIdentity, Depends(signed_in)]
) -> Response:
    return render(request, "console/password.html")


@router.post("/console/password", include_in_schema=False)
def password_change(
    request: Request,
    who: Annotated[ConsoleIdentity, Depends(require("members.view"))],
    current: Annotated[str, Form(max_length=200)],
    new: Annotated[str, Form(max_length=200)],
    confirm: Annotated[str, Form(max_length=200)],
) -> Response:
    if new != confirm:
        message = translate(request, "The two new passwords differ")
        return render(request, "console/password.html", {"error": message}, status_code=422)
    token = request.cookies.get(COOKIE.name)
    now = now_factory(request)()

    def change(session: Session) -> None:
        user = session.get(ConsoleUser, who.user_id)
        assert user is not None
        change_password(session, user, current, new, keep_token=token)
        record(session, who, "user.password", now, ("user", who.user_id), client_ip(request))

    try:
        write(request, change)
    except LoyaltyError as exc:
        message = translate(request, exc.title)
        return render(request, "console/password.html", {"error": message}, status_code=422)
    return render(request, "console/password.html", {"done": True})


@router.get("/lang/{locale}", include_in_schema=False)
def switch_language(request: Request, locale: str) -> Response:
    """Remember the reader's language in a cookie and go back where they were."""
    target = safe_next(request.query_params.get("next"), "/console")
    response = RedirectResponse(target, status_code=303)
    if locale in LOCALES:
        response.set_cookie("lang", locale, samesite="lax", path="/", max_age=365 * 86400)
    return response
