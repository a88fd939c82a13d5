"""API shapes of members."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.api.schemas import Channel, Code, Day, Id, Input, Timestamp
from loyalty.members.models import Member
from loyalty.members.service import identifiers_of, tags_of
from loyalty.stores.models import Store


class IdentifierIn(Input):
    type: str = Field(min_length=2, max_length=32, examples=["wechat_openid"])
    value: str = Field(min_length=1, max_length=128)


class MemberIn(Input):
    phone: str | None = Field(default=None, max_length=32, examples=["13800138000"])
    name: str | None = Field(default=None, max_length=80)
    birthday: Day | None = None
    gender: Literal["male", "female", "other"] | None = None
    identifiers: list[IdentifierIn] = Field(default_factory=list, max_length=10)
    store_code: Code | None = None
    channel: Channel | None = None
    referral_code: str | None = Field(default=None, max_length=16)
    registered_at: Timestamp | None = None


class MergeIn(Input):
    source_member_id: Id


class TierOut(BaseModel):
    code: str
    name: str


class IdentifierOut(BaseModel):
    type: str
    value: str


class BalanceOut(BaseModel):
    available: int
    pending: int
    held: int = 0


class MemberOut(BaseModel):
    id: int
    member_no: str
    name: str | None
    phone: str | None
    birthday: date | None
    gender: str | None
    status: str
    tier: TierOut
    referral_code: str
    referrer_id: int | None
    registered_at: datetime
    store_code: str | None
    channel: str | None
    merged_into_id: int | None
    tags: list[str]
    identifiers: list[IdentifierOut]
    points: BalanceOut


def _tier(session: Session, member: Member) -> dict[str, str]:
    from loyalty.programs.service import get_program
    from loyalty.tiers.service import program_tiers, tier_of

    tier = tier_of(
        program_tiers(session, get_program(session, member.program_id)), member.tier_code
    )
    return {"code": tier.code, "name": tier.name}


def member_json(session: Session, member: Member) -> dict[str, Any]:
    store_code = (
        session.scalar(select(Store.code).where(Store.id == member.store_id))
        if member.store_id
        else None
    )
    return {
        "id": member.id,
        "member_no": member.member_no,
        "name": member.name,
        "phone": member.phone,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "gender": member.gender,
        "status": member.status,
        "tier": _tier(session, member),
        "referral_code": member.referral_code,
        "referrer_id": member.referrer_id,
        "registered_at": member.registered_at.isoformat(),
        "store_code": store_code,
        "channel": member.channel,
        "merged_into_id": member.merged_into_id,
        "tags": sorted(tags_of(session, [member.id]).get(member.id, frozenset())),
        "identifiers": [
            {"type": i.type, "value": i.value} for i in identifiers_of(session, member.id)
        ],
        "points": {
            "available": member.points_available,
            "pending": member.points_pending,
            "held": member.points_held,
        },
    }
