"""Opaque cursors: ``?limit=50&cursor=...`` answers ``{items, next_cursor}``."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import Query

from loyalty.errors import InvalidRequestError

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=64, description="next_cursor of the last page")]


class InvalidCursorError(InvalidRequestError):
    code = "invalid_cursor"
    title = "Invalid cursor"


def encode(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("p"):
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursorError("cursor is not one this API gave out") from exc


def page(items: list[dict[str, Any]], limit: int, key: str = "id") -> dict[str, Any]:
    more = len(items) == limit
    return {"items": items, "next_cursor": encode(items[-1][key]) if more and items else None}
