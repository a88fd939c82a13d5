"""The period and the stores a dashboard covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, false, true

MAX_DAYS = 731

Stores = frozenset[int] | None
"""Store ids whose figures are wanted; ``None`` = the whole chain."""


@dataclass(frozen=True)
class Period:
    """Local days ``first`` to ``last``, both included."""

    first: date
    last: date

    @classmethod
    def ending(cls, last: date, length: int = 30) -> Period:
        return cls(last - timedelta(days=length - 1), last)

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        """[start, end) in time: local midnight of ``first`` to that after ``last``."""
        tz = ZoneInfo(zone)
        start = datetime.combine(self.first, time(), tz)
        return start, datetime.combine(self.last + timedelta(days=1), time(), tz)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def in_scope(store_id: int, stores: Stores) -> bool:
    return stores is None or store_id in stores


def store_filter(column: Any, stores: Stores) -> ColumnElement[bool]:
    if stores is None:
        return true()
    return column.in_(sorted(stores)) if stores else false()
