"""Who holds which identifiers, for a whole chunk of rows in one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from loyalty.members.models import Identifier, Member
from loyalty.programs.service import get_program
from loyalty.stores.models import Store

LEGACY_ID = "legacy_id"  # identifier type of the old system's member id (``member_ref``)

Pair = tuple[str, str]


@dataclass(frozen=True)
class Holder:
    member_id: int
    member_no: str | None


@dataclass(frozen=True)
class Target:
    """The program an import writes to, read once: its time zone and its stores."""

    program_id: int
    tz: ZoneInfo
    stores: dict[str, Store]


def load_target(session: Session, program_id: int) -> Target:
    program = get_program(session, program_id)
    stores = session.scalars(select(Store).where(Store.program_id == program_id))
    return Target(program_id, ZoneInfo(program.timezone), {s.code: s for s in stores})


def holders(session: Session, program_id: int, pairs: Iterable[Pair]) -> dict[Pair, Holder]:
    """The member holding each of these (type, value) identifiers, if any: one query.

    Grouped by type, so the query is ``type = t AND value IN (...)`` per type, which the
    unique index on (program, type, value) answers directly.
    """
    by_type: dict[str, set[str]] = defaultdict(set)
    for type_, value in pairs:
        by_type[type_].add(value)
    if not by_type:
        return {}
    rows = session.execute(
        select(Identifier.type, Identifier.value, Member.id, Member.member_no)
        .join(Member, Member.id == Identifier.member_id)
        .where(
            Identifier.program_id == program_id,
            or_(*(and_(Identifier.type == t, Identifier.value.in_(v)) for t, v in by_type.items())),
        )
    )
    return {(t, v): Holder(member_id, no) for t, v, member_id, no in rows}
