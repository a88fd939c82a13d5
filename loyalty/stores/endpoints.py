"""``/v1/stores``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from loyalty.api import pagination
from loyalty.api.deps import Admin, IdempotencyKey, Reader, mutate, reading
from loyalty.api.responses import json_response
from loyalty.api.schemas import Channel, Code, Input, problems
from loyalty.stores.models import Store
from loyalty.stores.service import create_store, get_store, list_stores

router = APIRouter(prefix="/v1/stores", tags=["stores"])
StoreCode = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_\-.]+$")]


class StoreIn(Input):
    code: Code
    name: str = Field(min_length=1, max_length=120)
    channel: Channel = "store"
    region: str | None = Field(default=None, max_length=64)
    groups: list[Code] = Field(default_factory=list, max_length=20)


class StoreOut(BaseModel):
    id: int
    code: str
    name: str
    channel: str
    region: str | None
    groups: list[str]
    active: bool
    created_at: datetime


class StorePage(BaseModel):
    items: list[StoreOut]
    next_cursor: str | None


def store_json(store: Store) -> dict[str, Any]:
    return {
        "id": store.id,
        "code": store.code,
        "name": store.name,
        "channel": store.channel,
        "region": store.region,
        "groups": store.groups or [],
        "active": store.active,
        "created_at": store.created_at.isoformat(),
    }


@router.post("", status_code=201, response_model=StoreOut, responses=problems(409))
def post_store(
    body: StoreIn, request: Request, principal: Admin, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create a store (code unique in the program)."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        store = create_store(
            session,
            principal.program_id,
            code=body.code,
            name=body.name,
            channel=body.channel,
            region=body.region,
            groups=body.groups,
            now=now,
        )
        return 201, store_json(store)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.get("", response_model=StorePage, responses=problems())
def get_stores(
    request: Request,
    principal: Reader,
    limit: pagination.Limit = 100,
    cursor: pagination.Cursor = None,
) -> Response:
    """Stores, in the order they were created."""
    with reading(request) as session:
        rows = list_stores(session, principal.program_id, pagination.decode(cursor) or 0, limit)
        return json_response(pagination.page([store_json(s) for s in rows], limit))


@router.get("/{code}", response_model=StoreOut, responses=problems(404))
def get_one_store(
    request: Request,
    principal: Reader,
    code: Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_\-.]+$")],
) -> Response:
    with reading(request) as session:
        return json_response(store_json(get_store(session, principal.program_id, code)))
