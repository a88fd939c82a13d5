"""The base of every domain error.

Each domain declares its own errors at the top of its service module, naming the rule they
protect (``InsufficientPointsError``). The API renders them as problem+json (RFC 9457) with the
stable ``code``; the CLI prints the title and detail.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LoyaltyError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFoundError(LoyaltyError):
    status = 404
    code = "not_found"
    title = "Not found"


class ConflictError(LoyaltyError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidRequestError(LoyaltyError):
    """Well-formed input that breaks a business rule (422)."""

    status = 422
    code = "invalid_request"
    title = "Invalid request"


class IdempotencyConflictError(ConflictError):
    code = "idempotency_conflict"
    title = "Idempotency key reused with another request"


class AuthenticationError(LoyaltyError):
    status = 401
    code = "unauthenticated"
    title = "Missing or invalid API key"


class PermissionDeniedError(LoyaltyError):
    status = 403
    code = "forbidden"
    title = "Not allowed"
