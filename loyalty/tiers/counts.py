"""How many members each tier holds (merged accounts are not members any more)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.members.models import Member
from loyalty.tiers.service import BASE


def members_per_tier(session: Session, program_id: int) -> dict[str, int]:
    """Members per tier code; the base tier's members are counted under ``"base"``."""
    rows = session.execute(
        select(Member.tier_code, func.count())
        .where(Member.program_id == program_id, Member.status != "merged")
        .group_by(Member.tier_code)
    )
    out: dict[str, int] = {}
    for code, count in rows:
        key = code or BASE
        out[key] = out.get(key, 0) + int(count)
    return out
