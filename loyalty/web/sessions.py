"""The session cookie of a page, the same for the console and the member page.

Each side describes its cookie once (``SessionCookie``: name, path, lifetime, sign-in page) and
its page dependency asks ``signed_in_as`` who the cookie belongs to. Nobody signed in (no
cookie, an unknown or expired session) is sent to the sign-in page, and back after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import get_db, now_factory
from loyalty.config import get_settings
from loyalty.programs.service import current_program
from loyalty.web.errors import SignInRequired

DEFAULT_TIMEZONE = "Asia/Shanghai"


class Identity(Protocol):
    """Whoever a session belongs to: a console user or a member, of one program."""

    @property
    def program_id(self) -> int: ...


Who = TypeVar("Who", bound=Identity)
Identify = Callable[[Session, str, datetime], Who | None]


@dataclass(frozen=True)
class SessionCookie:
    """Where a side keeps its session token, for how long, and where it signs in."""

    name: str
    path: str
    lifetime: timedelta
    login_path: str

    def set_on(self, response: Response, token: str) -> None:
        response.set_cookie(
            self.name,
            token,
            httponly=True,
            samesite="lax",
            secure=get_settings().cookie_secure,
            path=self.path,
            max_age=int(self.lifetime.total_seconds()),
        )

    def delete_from(self, response: Response) -> None:
        response.delete_cookie(self.name, path=self.path)


async def signed_in_as(request: Request, cookie: SessionCookie, identify: Identify[Who]) -> Who:
    """Who the request's session cookie belongs to, as ``identify`` finds them; else
    ``SignInRequired`` to the sign-in page. Sets ``request.state.timezone`` to the zone of
    their program, in which the page shows dates."""
    token = request.cookies.get(cookie.name)
    found: tuple[Who, str] | None = None
    if token:
        found = await run_in_threadpool(_load, request, token, identify)
    if found is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(f"{cookie.login_path}?next={quote(here)}")
    who, request.state.timezone = found
    return who


def _load(request: Request, token: str, identify: Identify[Who]) -> tuple[Who, str] | None:
    with get_db(request).reader() as session:
        who = identify(session, token, now_factory(request)())
        if who is None:
            return None
        return who, current_program(session, who.program_id).timezone or DEFAULT_TIMEZONE
