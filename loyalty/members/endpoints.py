"""``/v1/members``: register, look up, identify, merge; their points and history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from loyalty.api import pagination
from loyalty.api.deps import (
    Admin,
    IdempotencyKey,
    Reader,
    Till,
    get_db,
    mutate,
    reading,
    require_store,
)
from loyalty.api.responses import json_response
from loyalty.api.schemas import problems
from loyalty.ledger.queries import ledger_page, points_of
from loyalty.members.schemas import (
    IdentifierIn,
    IdentifierOut,
    MemberIn,
    MemberOut,
    MergeIn,
    member_json,
)
from loyalty.members.service import (
    Registration,
    add_identifier,
    add_tag,
    get_member,
    lock_member,
    lookup,
    merge,
    register,
    remove_tag,
    tags_of,
)
from loyalty.programs.service import get_program
from loyalty.tasks.service import on_registration

router = APIRouter(prefix="/v1/members", tags=["members"])
MemberId = Annotated[int, Path(ge=1, le=2**62)]


class ExpiringOut(BaseModel):
    points: int
    expires_at: datetime


class PointsOut(BaseModel):
    member_id: int
    available: int
    pending: int
    held: int
    debt: int
    lifetime_earned: int
    lifetime_redeemed: int
    lifetime_expired: int
    expiring: list[ExpiringOut]


class SourceOut(BaseModel):
    type: str
    id: str | None


class EntryOut(BaseModel):
    id: int
    member_id: int
    kind: str
    points: int
    occurred_at: datetime
    recorded_at: datetime
    source: SourceOut
    store_code: str | None
    channel: str | None
    description: str | None
    breakdown: list[dict[str, Any]]
    expires_at: datetime | None
    actor: str | None


class EntryPage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


@router.post("", status_code=201, response_model=MemberOut, responses=problems(409))
def post_member(
    body: MemberIn, request: Request, principal: Till, idempotency_key: IdempotencyKey = None
) -> Response:
    """Register a member with any identifiers; 409 ``identifier_taken`` if one is someone's."""
    store_code = require_store(principal, body.store_code)
    reg = Registration(
        phone=body.phone,
        name=body.name,
        birthday=body.birthday,
        gender=body.gender,
        identifiers=[(i.type, i.value) for i in body.identifiers],
        store_code=store_code,
        channel=body.channel,
        referral_code=body.referral_code,
        registered_at=body.registered_at,
    )

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        member = register(session, principal.program_id, reg, now)
        on_registration(session, get_program(session, principal.program_id), member, now)
        return 201, member_json(session, member)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.get("/lookup", response_model=MemberOut, responses=problems(404))
async def lookup_member(
    request: Request,
    principal: Reader,
    type: Annotated[str, Query(min_length=2, max_length=32)],
    value: Annotated[str, Query(min_length=1, max_length=128)],
) -> Response:
    """Find a member by any identifier: phone, card, wechat_openid, ... (404 if none)."""
    with reading(request) as session:
        return json_response(
            member_json(session, lookup(session, principal.program_id, type, value))
        )


@router.get("/{member_id}", response_model=MemberOut, responses=problems(404))
async def get_one_member(request: Request, principal: Reader, member_id: MemberId) -> Response:
    with reading(request) as session:
        member = get_member(session, principal.program_id, member_id)
        return json_response(member_json(session, member))


@router.post(
    "/{member_id}/identifiers",
    status_code=201,
    response_model=IdentifierOut,
    responses=problems(404, 409),
)
def post_identifier(
    member_id: MemberId,
    body: IdentifierIn,
    request: Request,
    principal: Till,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Link another identifier to the member; 409 ``identifier_taken`` if it is someone else's."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        member = lock_member(session, principal.program_id, member_id, follow_merged=False)
        ident = add_identifier(session, member, body.type, body.value, now)
        return 201, {"type": ident.type, "value": ident.value, "member_id": member.id}

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.post("/{member_id}/merge", response_model=MemberOut, responses=problems(404, 422))
def post_merge(
    member_id: MemberId,
    body: MergeIn,
    request: Request,
    principal: Admin,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Merge ``source_member_id`` into this member: points, lots, history, identifiers move."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        survivor = merge(
            session, principal.program_id, member_id, body.source_member_id, now, principal.actor
        )
        session.flush()
        return 200, member_json(session, survivor)

    return mutate(request, principal, idempotency_key, body.model_dump(mode="json"), work)


@router.get("/{member_id}/points", response_model=PointsOut, responses=problems(404))
async def get_points(request: Request, principal: Reader, member_id: MemberId) -> Response:
    """Available, pending, held, lifetime figures, and what expires when."""
    with get_db(request).snapshot() as conn:  # on the event loop (see ``api.deps``)
        return json_response(points_of(conn, principal.program_id, member_id))


@router.get("/{member_id}/ledger", response_model=EntryPage, responses=problems(404))
def get_ledger(
    request: Request,
    principal: Reader,
    member_id: MemberId,
    limit: pagination.Limit = 50,
    cursor: pagination.Cursor = None,
) -> Response:
    """The member's history, newest first, each entry with its explanation."""
    with reading(request) as session:
        get_member(session, principal.program_id, member_id)
        items = ledger_page(session, member_id, pagination.decode(cursor), limit)
        return json_response(pagination.page(items, limit))


TagPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\w\-.:]+$")]


@router.put("/{member_id}/tags/{tag}", responses=problems(404))
def put_tag(member_id: MemberId, tag: TagPath, request: Request, principal: Admin) -> Response:
    """Put the member in a tag or segment (rules can target it with ``segments``)."""

    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        member = lock_member(session, principal.program_id, member_id, follow_merged=False)
        add_tag(session, member, tag, now)
        return 200, {
            "member_id": member.id,
            "tags": sorted(tags_of(session, [member.id]).get(member.id, frozenset())),
        }

    return mutate(request, principal, None, tag, work)


@router.delete("/{member_id}/tags/{tag}", responses=problems(404))
def delete_tag(member_id: MemberId, tag: TagPath, request: Request, principal: Admin) -> Response:
    def work(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        member = lock_member(session, principal.program_id, member_id, follow_merged=False)
        remove_tag(session, member, tag)
        return 200, {
            "member_id": member.id,
            "tags": sorted(tags_of(session, [member.id]).get(member.id, frozenset())),
        }

    return mutate(request, principal, None, ["delete", tag], work)
