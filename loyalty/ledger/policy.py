"""When earned points become available and when they expire: pure functions of the program."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from loyalty.programs.models import Program


def expiry_for(program: Program, earned_at: datetime) -> datetime | None:
    """The moment points earned at ``earned_at`` expire, or ``None`` if they never do.

    ``calendar_year`` with ``expiry_years = 1`` means "valid until the end of next year" in the
    program's time zone (积分次年年底清零): earned on 2025-05-01, gone at 2027-01-01 00:00 local.
    """
    if program.expiry_policy == "never":
        return None
    if program.expiry_policy == "calendar_year":
        tz = ZoneInfo(program.timezone)
        year = earned_at.astimezone(tz).year + program.expiry_years + 1
        return datetime(year, 1, 1, tzinfo=tz).astimezone(UTC)
    return earned_at + timedelta(days=program.expiry_days)


def available_at_for(program: Program, earned_at: datetime, now: datetime) -> datetime | None:
    """When points earned at ``earned_at`` vest; ``None`` when they are available at once."""
    if program.pending_days <= 0:
        return None
    vest_at = earned_at + timedelta(days=program.pending_days)
    return vest_at if vest_at > now else None
