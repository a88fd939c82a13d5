"""Reading the cells of an import file: money, times, dates, genders.

Each reader raises ``InvalidValueError`` with a sentence fit for the rejects file.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from loyalty.api.schemas import EARLIEST, LATEST
from loyalty.errors import InvalidRequestError

MAX_AMOUNT = 100_000_000_000  # fen, as the API allows
YUAN = re.compile(r"^\d+(\.\d{1,2})?$")
SLASH_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})")
GENDERS = {
    "male": "male",
    "m": "male",
    "男": "male",
    "1": "male",
    "female": "female",
    "f": "female",
    "女": "female",
    "2": "female",
    "other": "other",
    "其他": "other",
    "0": None,
    "unknown": None,
    "未知": None,
}


class InvalidValueError(InvalidRequestError):
    code = "invalid_value"
    title = "Invalid value"


def parse_yuan(text: str, column: str = "amount") -> int:
    """``123.45`` (yuan, at most 2 decimals) as 12345 fen, exactly: through Decimal, never float.

    A leading ``¥``/``￥`` and thousands separators are accepted; negatives are not.
    """
    cleaned = text.strip().lstrip("¥￥").replace(",", "").strip()
    if cleaned.startswith("-"):
        raise InvalidValueError(f"{column} {text!r} is negative", field=column)
    if not YUAN.match(cleaned):
        raise InvalidValueError(
            f"{column} {text!r} is not an amount in yuan with at most 2 decimals", field=column
        )
    try:
        fen = int(Decimal(cleaned) * 100)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise InvalidValueError(f"{column} {text!r} is not a number", field=column) from exc
    if fen > MAX_AMOUNT:
        raise InvalidValueError(f"{column} {text!r} is too large", field=column)
    return fen


def _iso(text: str) -> str:
    """ISO 8601 with ``2025/3/1``-style dates accepted (zero-padded for ``fromisoformat``)."""
    text = text.strip()
    m = SLASH_DATE.match(text)
    if m:
        y, mo, d = m.groups()
        text = f"{y}-{int(mo):02d}-{int(d):02d}" + text[m.end() :]
    return text


def parse_time(text: str, tz: ZoneInfo, column: str) -> datetime:
    """An ISO 8601 time in UTC. A date alone is local midnight, a time without offset local
    time, in the program's time zone: that is what the old system's export usually means."""
    try:
        value = datetime.fromisoformat(_iso(text))
    except ValueError as exc:
        raise InvalidValueError(f"{column} {text!r} is not an ISO 8601 time", field=column) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    value = value.astimezone(UTC)
    if not EARLIEST <= value < LATEST:
        raise InvalidValueError(f"{column} {text!r} is not between 2000 and 2100", field=column)
    return value


def parse_date(text: str, today: date, column: str) -> date:
    """A ``YYYY-MM-DD`` date between 1900 and ``today``."""
    try:
        value = date.fromisoformat(_iso(text))
    except ValueError as exc:
        raise InvalidValueError(
            f"{column} {text!r} is not a YYYY-MM-DD date", field=column
        ) from exc
    if not date(1900, 1, 1) <= value <= today:
        raise InvalidValueError(f"{column} {text!r} is not between 1900 and today", field=column)
    return value


def parse_gender(text: str) -> str | None:
    """``male``/``female``/``other``, read from English, Chinese or WeChat's 1/2/0 codes."""
    key = text.strip().lower()
    if key not in GENDERS:
        raise InvalidValueError(
            f"gender {text!r}: use male, female or other (男/女, M/F, 1/2)", field="gender"
        )
    return GENDERS[key]
