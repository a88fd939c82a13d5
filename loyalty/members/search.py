"""Find members the way a counter does: by phone, card or any identifier, member number or name.

One typed text is tried every way that fits it: a phone number (normalised to E.164 and looked
up among the identifiers), a 10-digit member number, the exact value of any identifier (card
number, WeChat openid, a platform's id...) and the start of a name. Results are newest first and
keyset-paginated by member id; store-bound users pass ``store_ids`` and see only the members
registered at those stores.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from loyalty.errors import LoyaltyError
from loyalty.members.identifiers import normalise_phone
from loyalty.members.models import Identifier, Member
from loyalty.stores.models import Store

PHONE_LIKE = re.compile(r"^\+?[\d\s\-()]{7,20}$")
MEMBER_NO = re.compile(r"^\d{10}$")
STATUS_FILTERS = ("", "active", "frozen", "merged", "all")


@dataclass(frozen=True)
class MemberQuery:
    """What the list shows: ``text`` to search, a status filter, and the stores one may see.

    ``status`` "" means every member except the merged (empty) accounts; "all" includes them.
    ``store_ids`` None means every store; a set limits the list to members registered there.
    """

    text: str = ""
    status: str = ""
    store_ids: Collection[int] | None = None


@dataclass(frozen=True)
class MemberRow:
    """A member as the list shows it, with their registration store and how the text matched."""

    member: Member
    store_code: str | None
    store_name: str | None
    matched: str | None


def phone_of(text: str) -> str | None:
    """``text`` as an E.164 phone number, if it reads as one."""
    if not PHONE_LIKE.match(text):
        return None
    try:
        return normalise_phone(text)
    except LoyaltyError:
        return None


def exact_matches(
    session: Session, program_id: int, text: str, follow_merged: bool = True
) -> dict[int, str]:
    """Members whose phone, member number or any identifier is exactly ``text``: id -> how.

    The number of an account merged into another also finds the survivor (``follow_merged``).
    """
    found: dict[int, str] = {}
    phone = phone_of(text)
    values = [v for v in dict.fromkeys((text, phone)) if v]
    rows = session.execute(
        select(Identifier.member_id, Identifier.type).where(
            Identifier.program_id == program_id, Identifier.value.in_(values)
        )
    )
    for member_id, type_ in rows:
        found.setdefault(member_id, type_)
    if MEMBER_NO.match(text):
        numbered = session.execute(
            select(Member.id, Member.merged_into_id).where(
                Member.program_id == program_id, Member.member_no == text
            )
        ).first()
        if numbered is not None:
            found.setdefault(numbered[0], "member_no")
            if follow_merged and numbered[1] is not None:
                found.setdefault(numbered[1], "member_no")
    return found


def _name_starts(text: str) -> ColumnElement[bool]:
    """Names starting with ``text``: case-blind for letters that have case; for Chinese (no
    case) a plain LIKE, which the name index serves."""
    pattern = _escape_like(text) + "%"
    if text.lower() == text.upper():
        return Member.name.like(pattern, escape="\\")
    return Member.name.ilike(pattern, escape="\\")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(stmt: Select[Member, str, str], q: MemberQuery) -> Select[Member, str, str]:
    if q.status in ("active", "frozen", "merged"):
        stmt = stmt.where(Member.status == q.status)
    elif q.status != "all":
        stmt = stmt.where(Member.status != "merged")
    if q.store_ids is not None:
        stmt = stmt.where(Member.store_id.in_(list(q.store_ids)))
    return stmt


def search(
    session: Session, program_id: int, q: MemberQuery, before: int | None, limit: int
) -> list[MemberRow]:
    """One page of members matching ``q``, newest first, with ids below ``before``."""
    text = q.text.strip()
    exact = exact_matches(session, program_id, text) if text else {}
    stmt = (
        select(Member, Store.code, Store.name)
        .outerjoin(Store, Store.id == Member.store_id)
        .where(Member.program_id == program_id)
        .order_by(Member.id.desc())
        .limit(limit)
    )
    if text:
        prefix = _name_starts(text)
        stmt = stmt.where(or_(Member.id.in_(list(exact)), prefix) if exact else prefix)
    if before is not None:
        stmt = stmt.where(Member.id < before)
    stmt = _filtered(stmt, q)
    return [
        MemberRow(m, code, name, exact.get(m.id, "name" if text else None))
        for m, code, name in session.execute(stmt)
    ]
