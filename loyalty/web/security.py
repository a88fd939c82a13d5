"""Browser-facing safeguards shared by the console and the member page.

- CSRF: signed-in forms carry the session's token (``csrf_token`` field or ``X-CSRF-Token``
  header, which HTMX sends); forms before sign-in use a double-submit cookie.
- Rate limits: a small in-process sliding window per key (address, phone). Lockouts that must
  hold across processes (a user's wrong passwords) live in the database instead.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import weakref
from collections import deque
from typing import ClassVar

from fastapi import Request
from fastapi.responses import Response

from loyalty.errors import LoyaltyError, PermissionDeniedError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRE_SESSION_COOKIE = "loyalty_csrf"


class CsrfError(PermissionDeniedError):
    code = "csrf_failed"
    title = "The form expired; reload the page and try again"


class TooManyRequestsError(LoyaltyError):
    status = 429
    code = "too_many_requests"
    title = "Too many attempts; wait a minute and try again"


async def submitted_token(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    if "form" in request.headers.get("content-type", ""):
        value = (await request.form()).get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse a state-changing request whose token does not match ``expected``."""
    if request.method in SAFE_METHODS:
        return
    given = await submitted_token(request)
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfError()


def pre_session_token(request: Request) -> str:
    """The double-submit token for a sign-in form (reused if the browser already has one)."""
    token = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(24)
    request.state.csrf_token = token
    return token


def set_pre_session_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        PRE_SESSION_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


async def check_pre_session(request: Request) -> None:
    await check_csrf(request, request.cookies.get(PRE_SESSION_COOKIE, ""))


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds for each key."""

    instances: ClassVar[weakref.WeakSet[RateLimiter]] = weakref.WeakSet()

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        RateLimiter.instances.add(self)

    def hit(self, key: str) -> None:
        """Count one event; raise ``TooManyRequestsError`` if the key is over its limit."""
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                raise TooManyRequestsError()
            events.append(now)

    def reset(self) -> None:
        with self._lock:
            self._events.clear()

    @classmethod
    def reset_all(cls) -> None:
        """Forget every count (between tests, or after an operator lifts a block)."""
        for limiter in list(cls.instances):
            limiter.reset()
