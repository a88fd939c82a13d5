"""The wallet and its journal: every change of a balance is one entry, written with the cache.

These functions expect the member row to be locked by the caller (``lock_member``), so two
requests for one member never interleave; they flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.members.models import Member
from loyalty.stores.models import Store
from loyalty.wallet.models import Wallet, WalletEntry

# Which lifetime figure of the wallet each kind of entry adds to (by its absolute amount).
LIFETIME = {"top_up": "topped_up", "bonus": "bonus_given", "payment": "paid", "refund": "refunded"}
_MONEY = ("balance", "principal", "bonus", *LIFETIME.values())


@dataclass(frozen=True)
class Movement:
    """One journal entry to write: signed changes of principal and bonus, and why."""

    kind: str
    principal: int
    bonus: int
    source_type: str
    source_id: str | None
    description: str
    description_en: str
    store_id: int | None = None


def find_wallet(session: Session, member_id: int) -> Wallet | None:
    return session.scalar(
        select(Wallet)
        .where(Wallet.member_id == member_id)
        .execution_options(populate_existing=True)
    )


def open_wallet(session: Session, member: Member, now: datetime) -> Wallet:
    """The member's wallet, created empty on first use."""
    wallet = find_wallet(session, member.id)
    if wallet is None:
        wallet = Wallet(
            program_id=member.program_id,
            member_id=member.id,
            created_at=now,
            updated_at=now,
            **dict.fromkeys(_MONEY, 0),
        )
        session.add(wallet)
        session.flush()
    return wallet


def post(
    session: Session, wallet: Wallet, m: Movement, now: datetime, actor: str | None
) -> WalletEntry:
    """Apply one movement to the wallet's cache and journal it, in the same flush."""
    amount = m.principal + m.bonus
    wallet.principal += m.principal
    wallet.bonus += m.bonus
    wallet.balance += amount
    wallet.updated_at = now
    if m.kind in LIFETIME:
        name = LIFETIME[m.kind]
        setattr(wallet, name, getattr(wallet, name) + abs(amount))
    entry = WalletEntry(
        program_id=wallet.program_id,
        member_id=wallet.member_id,
        kind=m.kind,
        amount=amount,
        principal=m.principal,
        bonus=m.bonus,
        balance_after=wallet.balance,
        occurred_at=now,
        recorded_at=now,
        source_type=m.source_type,
        source_id=m.source_id,
        store_id=m.store_id,
        description=m.description,
        description_en=m.description_en,
        actor=actor,
    )
    session.add(entry)
    return entry


def wallet_json(wallet: Wallet | None) -> dict[str, int]:
    if wallet is None:
        return {"balance": 0, "principal": 0, "bonus": 0}
    return {"balance": wallet.balance, "principal": wallet.principal, "bonus": wallet.bonus}


def event_payload(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    """An outbox payload from an answer: who, which id, how much, and the balance after."""
    out = {k: body[k] for k in ("member_id", *keys, "amount")}
    return {**out, "balance": body["wallet"]["balance"]}


def store_id(store: Store | None) -> int | None:
    return store.id if store else None


def move_wallet(
    session: Session, source: Member, survivor: Member, now: datetime, actor: str | None
) -> None:
    """Move the source's whole balance to the survivor, journaled on both sides.

    For ``members.service.merge`` (both members locked): nothing of a person's stored value
    may be stranded on the account that stops being used.
    """
    wallet = find_wallet(session, source.id)
    if wallet is None or wallet.balance == 0:
        return
    target = open_wallet(session, survivor, now)
    principal, bonus = wallet.principal, wallet.bonus
    to, since = survivor.member_no, source.member_no
    out = Movement(
        "merge_out",
        -principal,
        -bonus,
        "merge",
        str(survivor.id),
        f"合并到会员 {to}",
        f"Moved to member {to}",
    )
    into = Movement(
        "merge_in",
        principal,
        bonus,
        "merge",
        str(source.id),
        f"由会员 {since} 合并转入",
        f"Moved in from member {since}",
    )
    post(session, wallet, out, now, actor)
    post(session, target, into, now, actor)
    session.flush()
