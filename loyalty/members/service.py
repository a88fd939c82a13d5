"""Register, find, identify and merge members."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.coupons.models import Coupon
from loyalty.errors import ConflictError, InvalidRequestError, NotFoundError
from loyalty.ledger.service import move_points
from loyalty.lotteries.models import LotteryDraw
from loyalty.members.identifiers import normalise_identifier, normalise_phone
from loyalty.members.models import Identifier, Member, MemberTag
from loyalty.notifications.outbox import emit
from loyalty.orders.models import Order
from loyalty.rewards.models import Address, Redemption
from loyalty.stores.service import resolve_store
from loyalty.wallet.journal import move_wallet


class MemberNotFoundError(NotFoundError):
    code = "member_not_found"
    title = "Member not found"


class IdentifierTakenError(ConflictError):
    code = "identifier_taken"
    title = "Identifier belongs to another member"


class MemberNotActiveError(ConflictError):
    code = "member_not_active"
    title = "Member is not active"


class InvalidMergeError(InvalidRequestError):
    code = "invalid_merge"
    title = "These members cannot be merged"


class UnknownReferralCodeError(InvalidRequestError):
    code = "unknown_referral_code"
    title = "Unknown referral code"


REFERRAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class Registration:
    phone: str | None = None
    name: str | None = None
    birthday: date | None = None
    gender: str | None = None
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    store_code: str | None = None
    channel: str | None = None
    referral_code: str | None = None
    registered_at: datetime | None = None


def member_number(member_id: int) -> str:
    """A 10-digit card-style number: the id, zero-padded, with a Luhn check digit."""
    body = f"{member_id:09d}"
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))


def register(session: Session, program_id: int, reg: Registration, now: datetime) -> Member:
    """Create a member with their identifiers; 409 if any identifier is someone else's."""
    phone = normalise_phone(reg.phone) if reg.phone else None
    identifiers = _registration_identifiers(phone, reg.identifiers)
    store = resolve_store(session, program_id, reg.store_code)
    member = Member(
        program_id=program_id,
        name=reg.name,
        phone=phone,
        birthday=reg.birthday,
        gender=reg.gender,
        status="active",
        registered_at=reg.registered_at or now,
        store_id=store.id if store else None,
        channel=reg.channel or (store.channel if store else None),
        referrer_id=_referrer_id(session, program_id, reg.referral_code),
        referral_code=new_referral_code(),
        consents={},
        created_at=now,
        points_available=0,
        points_pending=0,
        points_held=0,
        points_debt=0,
        lifetime_earned=0,
        lifetime_redeemed=0,
        lifetime_expired=0,
    )
    _check_free(session, program_id, identifiers, None)
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
            member.member_no = member_number(member.id)
            _add_identifiers(session, member, identifiers, now)
    except IntegrityError as exc:
        raise IdentifierTakenError("an identifier was registered at the same moment") from exc
    emit(session, program_id, "member.registered", {"member_id": member.id}, now, member.id)
    return member


def _registration_identifiers(
    phone: str | None, given: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    pairs = [normalise_identifier(t, v) for t, v in given]
    if phone and ("phone", phone) not in pairs:
        pairs.insert(0, ("phone", phone))
    return list(dict.fromkeys(pairs))


def _referrer_id(session: Session, program_id: int, code: str | None) -> int | None:
    if not code:
        return None
    referrer = session.scalar(
        select(Member.id).where(
            Member.program_id == program_id, Member.referral_code == code.strip().upper()
        )
    )
    if referrer is None:
        raise UnknownReferralCodeError(
            f"no member has referral code {code!r}", field="referral_code"
        )
    return referrer


def _check_free(
    session: Session, program_id: int, pairs: list[tuple[str, str]], owner: int | None
) -> None:
    for type_, value in pairs:
        holder = find_by_identifier(session, program_id, type_, value)
        if holder is not None and holder.id != owner:
            raise IdentifierTakenError(
                f"{type_} {value} belongs to member {holder.member_no}",
                type=type_,
                member_id=holder.id,
            )


def _add_identifiers(
    session: Session, member: Member, pairs: list[tuple[str, str]], now: datetime
) -> None:
    for type_, value in pairs:
        session.add(
            Identifier(
                program_id=member.program_id,
                member_id=member.id,
                type=type_,
                value=value,
                created_at=now,
            )
        )
    session.flush()


def get_member(session: Session, program_id: int, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or member.program_id != program_id:
        raise MemberNotFoundError(f"member {member_id} does not exist")
    return member


def lock_member(
    session: Session, program_id: int, member_id: int, *, follow_merged: bool = True
) -> Member:
    """Load a member with its row locked until the transaction ends.

    A member merged into another stands for the survivor: orders and holds addressed to the
    old account land on the one that holds the points now.
    """
    for _ in range(8):
        stmt = (
            select(Member).where(Member.id == member_id).execution_options(populate_existing=True)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        member = session.scalar(stmt)
        if member is None or member.program_id != program_id:
            raise MemberNotFoundError(f"member {member_id} does not exist")
        if not (follow_merged and member.status == "merged" and member.merged_into_id):
            return member
        member_id = member.merged_into_id
    raise MemberNotFoundError(f"member {member_id}: merge chain too long")


def require_active(member: Member) -> None:
    if member.status != "active":
        raise MemberNotActiveError(
            f"member {member.member_no} is {member.status}", status_now=member.status
        )


def find_by_identifier(session: Session, program_id: int, type_: str, value: str) -> Member | None:
    return session.scalar(
        select(Member)
        .join(Identifier, Identifier.member_id == Member.id)
        .where(
            Identifier.program_id == program_id, Identifier.type == type_, Identifier.value == value
        )
    )


def lookup(session: Session, program_id: int, type_: str, value: str) -> Member:
    type_, value = normalise_identifier(type_, value)
    member = find_by_identifier(session, program_id, type_, value)
    if member is None:
        raise MemberNotFoundError(f"no member with {type_} {value}")
    return member


def identifiers_of(session: Session, member_id: int) -> list[Identifier]:
    return list(
        session.scalars(
            select(Identifier).where(Identifier.member_id == member_id).order_by(Identifier.id)
        )
    )


def add_identifier(
    session: Session, member: Member, type_: str, value: str, now: datetime
) -> Identifier:
    """Link another identifier; linking one the member already has is a no-op."""
    pair = normalise_identifier(type_, value)
    _check_free(session, member.program_id, [pair], member.id)
    existing = find_by_identifier(session, member.program_id, *pair)
    if existing is not None:
        return _identifier(session, member.id, pair)
    try:
        with session.begin_nested():
            _add_identifiers(session, member, [pair], now)
    except IntegrityError as exc:
        raise IdentifierTakenError(f"{pair[0]} {pair[1]} was just taken") from exc
    if pair[0] == "phone" and member.phone is None:
        member.phone = pair[1]
    return _identifier(session, member.id, pair)


def _identifier(session: Session, member_id: int, pair: tuple[str, str]) -> Identifier:
    ident = session.scalar(
        select(Identifier).where(
            Identifier.member_id == member_id,
            Identifier.type == pair[0],
            Identifier.value == pair[1],
        )
    )
    assert ident is not None
    return ident


def merge(
    session: Session,
    program_id: int,
    survivor_id: int,
    source_id: int,
    now: datetime,
    actor: str | None,
) -> Member:
    """Fold ``source`` into ``survivor``: points, lots, holds, orders, identifiers, history,
    stored value, and what the person owns besides (coupons, redemptions with pickups still
    to collect, lottery draws, delivery addresses, tags)."""
    if survivor_id == source_id:
        raise InvalidMergeError("a member cannot be merged into itself")
    first, second = sorted((survivor_id, source_id))
    locked = {
        m.id: m
        for m in (
            lock_member(session, program_id, first, follow_merged=False),
            lock_member(session, program_id, second, follow_merged=False),
        )
    }
    survivor, source = locked[survivor_id], locked[source_id]
    for m in (survivor, source):
        if m.status == "merged":
            raise InvalidMergeError(f"member {m.member_no} was already merged")
    session.execute(
        update(Identifier).where(Identifier.member_id == source.id).values(member_id=survivor.id)
    )
    session.execute(update(Order).where(Order.member_id == source.id).values(member_id=survivor.id))
    _move_belongings(session, source.id, survivor.id)
    move_points(session, source, survivor, now, actor)
    move_wallet(session, source, survivor, now, actor)
    _fill_profile(survivor, source)
    _combine_activity(survivor, source)
    source.status, source.merged_into_id = "merged", survivor.id
    emit(
        session,
        program_id,
        "member.merged",
        {"survivor_id": survivor.id, "source_id": source.id},
        now,
        survivor.id,
    )
    return survivor


def _move_belongings(session: Session, source_id: int, survivor_id: int) -> None:
    """Coupons, redemptions and draws change hands; the survivor's default address stays the
    default; a tag both accounts carry is kept once."""
    for model in (Coupon, Redemption, LotteryDraw):
        session.execute(
            update(model).where(model.member_id == source_id).values(member_id=survivor_id)
        )
    has_default = session.scalar(
        select(Address.id).where(Address.member_id == survivor_id, Address.is_default).limit(1)
    )
    moved: dict[str, object] = {"member_id": survivor_id}
    if has_default is not None:
        moved["is_default"] = False
    session.execute(update(Address).where(Address.member_id == source_id).values(moved))
    both = select(MemberTag.tag).where(MemberTag.member_id == survivor_id)
    session.execute(
        delete(MemberTag).where(MemberTag.member_id == source_id, MemberTag.tag.in_(both))
    )
    session.execute(
        update(MemberTag).where(MemberTag.member_id == source_id).values(member_id=survivor_id)
    )


def _combine_activity(survivor: Member, source: Member) -> None:
    """The orders moved to the survivor: so do their count and the latest order time."""
    survivor.orders_count += source.orders_count
    times = [t for t in (survivor.last_order_at, source.last_order_at) if t is not None]
    survivor.last_order_at = max(times) if times else None
    source.orders_count = 0


def _fill_profile(survivor: Member, source: Member) -> None:
    for name in ("name", "phone", "birthday", "gender", "referrer_id"):
        if getattr(survivor, name) is None:
            setattr(survivor, name, getattr(source, name))


def tags_of(session: Session, member_ids: list[int]) -> dict[int, frozenset[str]]:
    rows = session.execute(
        select(MemberTag.member_id, MemberTag.tag).where(MemberTag.member_id.in_(member_ids))
    )
    out: dict[int, set[str]] = {}
    for member_id, tag in rows:
        out.setdefault(member_id, set()).add(tag)
    return {k: frozenset(v) for k, v in out.items()}


def add_tag(session: Session, member: Member, tag: str, now: datetime) -> None:
    if tag in tags_of(session, [member.id]).get(member.id, frozenset()):
        return
    session.add(
        MemberTag(program_id=member.program_id, member_id=member.id, tag=tag, created_at=now)
    )
    session.flush()


def remove_tag(session: Session, member: Member, tag: str) -> None:
    session.execute(delete(MemberTag).where(MemberTag.member_id == member.id, MemberTag.tag == tag))
