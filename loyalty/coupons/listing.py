"""Issued coupons for the console: filtered by status, template, member or code, newest
first, with the member and the store they were used at."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from loyalty.coupons.models import Coupon
from loyalty.coupons.queries import _status_filter
from loyalty.members.models import Member, MemberTag
from loyalty.stores.models import Store


@dataclass(frozen=True)
class CouponFilter:
    status: str | None = None
    template_id: int | None = None
    member_id: int | None = None
    code: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class CouponRow:
    coupon: Coupon
    member_name: str | None
    member_phone: str | None
    member_no: str | None
    used_store_name: str | None


def _query(
    program_id: int, f: CouponFilter, now: datetime
) -> Select[Coupon, str | None, str | None, str | None, str]:
    stmt = (
        select(Coupon, Member.name, Member.phone, Member.member_no, Store.name)
        .join(Member, Member.id == Coupon.member_id)
        .outerjoin(Store, Store.id == Coupon.used_store_id)
        .where(Coupon.program_id == program_id)
    )
    if f.status:
        stmt = stmt.where(_status_filter(f.status, now))
    if f.template_id:
        stmt = stmt.where(Coupon.template_id == f.template_id)
    if f.member_id:
        stmt = stmt.where(Coupon.member_id == f.member_id)
    if f.code:
        stmt = stmt.where(Coupon.code == f.code)
    if f.start:
        stmt = stmt.where(Coupon.issued_at >= f.start)
    if f.end:
        stmt = stmt.where(Coupon.issued_at < f.end)
    return stmt


def coupons(
    session: Session,
    program_id: int,
    f: CouponFilter,
    now: datetime,
    limit: int,
    before: int | None = None,
) -> list[CouponRow]:
    stmt = _query(program_id, f, now).order_by(Coupon.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(Coupon.id < before)
    return [CouponRow(*row) for row in session.execute(stmt)]


def all_coupons(
    session: Session, program_id: int, f: CouponFilter, now: datetime, chunk: int = 1000
) -> Iterator[CouponRow]:
    before: int | None = None
    while rows := coupons(session, program_id, f, now, chunk, before):
        yield from rows
        before = rows[-1].coupon.id


def segment_choices(session: Session, program_id: int, limit: int = 200) -> list[tuple[str, int]]:
    """The tags members carry (a bulk issue's target), with how many active members each."""
    stmt = (
        select(MemberTag.tag, func.count(MemberTag.member_id))
        .join(Member, Member.id == MemberTag.member_id)
        .where(MemberTag.program_id == program_id, Member.status == "active")
        .group_by(MemberTag.tag)
        .order_by(MemberTag.tag)
        .limit(limit)
    )
    return [(tag, int(n)) for tag, n in session.execute(stmt)]
