"""What a member chooses between when redeeming: the stores to pick up at, and their saved
delivery addresses (saving one is the same as ``POST /v1/members/{id}/addresses``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.members.models import Member
from loyalty.rewards.catalog import store_stock
from loyalty.rewards.models import Address, Reward
from loyalty.stores.models import Store


@dataclass(frozen=True)
class AddressFields:
    recipient: str
    phone: str
    region: str
    detail: str


def pickup_stores(session: Session, reward: Reward) -> list[Store]:
    """Active physical stores; if the reward has per-store stock, those that still have some."""
    stores = session.scalars(
        select(Store)
        .where(Store.program_id == reward.program_id, Store.active.is_(True))
        .where(Store.channel == "store")
        .order_by(Store.code)
    ).all()
    stock = store_stock(session, reward.id)
    if not stock:
        return list(stores)
    return [s for s in stores if stock.get(s.id, 0) > 0]


def addresses(session: Session, member_id: int) -> list[Address]:
    """The member's saved addresses, the default one first."""
    return list(
        session.scalars(
            select(Address)
            .where(Address.member_id == member_id)
            .order_by(Address.is_default.desc(), Address.id.desc())
        )
    )


def default_address(session: Session, member_id: int) -> Address | None:
    found = addresses(session, member_id)
    return found[0] if found else None


def save_address(
    session: Session, member: Member, fields: AddressFields, now: datetime, default: bool = True
) -> Address:
    """Save a new address. As the default (the usual case) it takes over from the older ones,
    which stay but are no longer default."""
    if default:
        for old in session.scalars(select(Address).where(Address.member_id == member.id)):
            old.is_default = False
    address = Address(
        member_id=member.id,
        recipient=fields.recipient,
        phone=fields.phone,
        region=fields.region,
        detail=fields.detail,
        is_default=default,
        created_at=now,
    )
    session.add(address)
    session.flush()
    return address
