"""problem+json (RFC 9457) for every error the API can answer with."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from loyalty.api.responses import json_response
from loyalty.errors import LoyaltyError

log = logging.getLogger("loyalty.api")

PROBLEM = "application/problem+json"
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    return _render(_body(status, code, title, detail, **extra))


def _body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }


def _render(body: dict[str, Any]) -> Response:
    status = int(body["status"])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return json_response(body, status, media_type=PROBLEM, headers=headers)


def _respond(request: Request, body: dict[str, Any]) -> Response:
    """problem+json, or a page when the request came from the console or the member page."""
    pages = getattr(request.app.state, "page_errors", None)
    page = pages(request, body) if pages is not None else None
    return page if page is not None else _render(body)


def problem_body(exc: LoyaltyError) -> dict[str, Any]:
    return {
        "type": f"/problems/{exc.code}",
        "title": exc.title,
        "status": exc.status,
        "code": exc.code,
        "detail": exc.detail,
        **exc.extra,
    }


async def _domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoyaltyError)
    return _respond(request, problem_body(exc))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ())),
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    detail = f"{first['field']}: {first['message']}"
    return _respond(
        request, _body(422, "validation_error", "Invalid request", detail, errors=errors)
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    title = code.replace("_", " ").capitalize()
    response = _respond(request, _body(exc.status_code, code, title, str(exc.detail)))
    response.headers.update(exc.headers or {})
    return response


async def _bad_data(request: Request, exc: Exception) -> Response:
    """The database refused a value (out of range, invalid text): the input's fault."""
    log.warning("database refused data on %s: %s", request.url.path, exc)
    detail = "a value was refused by the database (out of range or not valid text)"
    return _respond(request, _body(422, "invalid_data", "Invalid data", detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    detail = "The server failed; nothing was changed. The error is logged."
    return _respond(request, _body(500, "internal_error", "Internal error", detail))


def install(app: FastAPI) -> None:
    app.add_exception_handler(LoyaltyError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DataError, _bad_data)
    app.add_exception_handler(Exception, _unexpected)
