"""Local calendar days in SQL: a UTC timestamp column as a date in the program's time zone.

PostgreSQL converts with ``timezone(zone, ts)``. SQLite has no time zones: for a zone whose
offset has not changed since 2000 (Asia/Shanghai and most of Asia) it shifts by that fixed
offset with the built-in ``date()``; otherwise it calls a Python function registered on the
connection, which is exact but slower.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, DateTime, Integer, cast, func, literal_column, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

SQLITE_FUNCTION = "loyalty_local_day"


@cache
def fixed_offset_minutes(zone: str) -> int | None:
    """The zone's UTC offset in minutes if it has been the same since 2000, else ``None``."""
    tz = ZoneInfo(zone)
    offsets = {
        datetime(year, month, 1, 12, tzinfo=UTC).astimezone(tz).utcoffset()
        for year in range(2000, 2101)
        for month in (1, 7)
    }
    if len(offsets) != 1:
        return None
    only = offsets.pop() or timedelta(0)
    return int(only.total_seconds() // 60)


def _python_local_day(zone: str) -> Any:
    tz = ZoneInfo(zone)

    def local_day(stored: str | None) -> str | None:
        if stored is None:
            return None
        at = datetime.fromisoformat(stored).replace(tzinfo=UTC)
        return at.astimezone(tz).date().isoformat()

    return local_day


def prepare(session: Session, zone: str) -> None:
    """Register the SQLite fallback on this session's connection when the zone needs it."""
    if session.get_bind().dialect.name != "sqlite" or fixed_offset_minutes(zone) is not None:
        return
    raw: Any = session.connection().connection.driver_connection
    raw.create_function(f"{SQLITE_FUNCTION}_{_suffix(zone)}", 1, _python_local_day(zone))


def _suffix(zone: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in zone)


def local_day(dialect: str, column: Any, zone: str) -> ColumnElement[date]:
    """``column`` (a UTC timestamp) as the local date in ``zone``."""
    if dialect == "postgresql":
        return cast(func.timezone(zone, column), Date)
    minutes = fixed_offset_minutes(zone)
    if minutes is None:
        fn = getattr(func, f"{SQLITE_FUNCTION}_{_suffix(zone)}")
        return type_coerce(fn(column), Date)
    return type_coerce(func.date(column, f"{minutes:+d} minutes"), Date)


def month_start(dialect: str, day: Any) -> ColumnElement[date]:
    """The first day of the month of the date expression ``day``."""
    if dialect == "postgresql":
        return cast(func.date_trunc("month", cast(day, DateTime)), Date)
    return type_coerce(func.date(day, "start of month"), Date)


def day_bit(dialect: str, day: Any) -> ColumnElement[int]:
    """``1 << (day of month - 1)``: the bit of ``day`` in ``MemberActivity.days``."""
    if dialect == "postgresql":
        dom: Any = cast(func.extract("day", day), Integer)
    else:
        dom = cast(func.strftime("%d", day), Integer)
    return literal_column("1", Integer).op("<<")(dom - 1)


def days_mask(first: int, last: int) -> int:
    """The bits of days ``first`` to ``last`` (1-based, inclusive) of a month."""
    return ((1 << last) - 1) ^ ((1 << (first - 1)) - 1)
