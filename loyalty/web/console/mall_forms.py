"""Small helpers the points mall pages share: reading forms, masking members, stores, dates.

Form values arrive as text; ``FormReader`` turns them into integers, fen, UTC times and
lists, and collects one message per bad field (English msgids, translated on the page), so a
bad form is shown again with its errors and nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.stores.models import Store
from loyalty.users.service import ConsoleIdentity
from loyalty.web.i18n import N_

YUAN = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
REQUIRED = N_("Required")
WHOLE_NUMBER = N_("Enter a whole number")
OUT_OF_RANGE = N_("Out of range")
BAD_AMOUNT = N_("Enter an amount in yuan, e.g. 12.50")
BAD_TIME = N_("Enter a date and time")
BAD_CHOICE = N_("Choose one of the options")
TOO_LONG = N_("Too long")


class FormReader:
    """Typed values out of a submitted form; ``errors`` maps each bad field to a message."""

    def __init__(self, form: Mapping[str, Any], zone: ZoneInfo) -> None:
        self.form = form
        self.zone = zone
        self.errors: dict[str, str] = {}

    def raw(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def text(self, name: str, max_length: int, required: bool = False) -> str | None:
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, REQUIRED)
            return None
        if len(value) > max_length or CONTROL.search(value):
            self.fail(name, TOO_LONG)
            return None
        return value

    def integer(self, name: str, lo: int, hi: int, required: bool = False) -> int | None:
        value = self.raw(name).replace(",", "")
        if not value:
            if required:
                self.fail(name, REQUIRED)
            return None
        if not re.fullmatch(r"-?\d{1,12}", value):
            self.fail(name, WHOLE_NUMBER)
            return None
        number = int(value)
        if not lo <= number <= hi:
            self.fail(name, OUT_OF_RANGE)
            return None
        return number

    def fen(self, name: str, required: bool = False) -> int | None:
        """An amount typed in yuan (``12.5``), as fen; through Decimal, never float."""
        value = self.raw(name).lstrip("¥￥").replace(",", "")
        if not value:
            if required:
                self.fail(name, REQUIRED)
            return None
        if not YUAN.match(value):
            self.fail(name, BAD_AMOUNT)
            return None
        try:
            return int(Decimal(value) * 100)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            self.fail(name, BAD_AMOUNT)
            return None

    def moment(self, name: str, required: bool = False) -> datetime | None:
        """A ``datetime-local`` value, read in the program's time zone, as UTC."""
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, REQUIRED)
            return None
        try:
            local = datetime.fromisoformat(value)
        except ValueError:
            self.fail(name, BAD_TIME)
            return None
        if local.tzinfo is None:
            local = local.replace(tzinfo=self.zone)
        if not 2000 <= local.year < 2100:
            self.fail(name, OUT_OF_RANGE)
            return None
        return local.astimezone(UTC)

    def choice(self, name: str, options: Sequence[str], default: str | None = None) -> str:
        value = self.raw(name) or default or ""
        if value not in options:
            self.fail(name, BAD_CHOICE)
            return options[0]
        return value

    def many(self, name: str) -> list[str]:
        getlist = getattr(self.form, "getlist", None)
        values = getlist(name) if getlist else [self.form.get(name)]
        return [v.strip() for v in values if isinstance(v, str) and v.strip()]

    def flag(self, name: str) -> bool:
        return self.raw(name) in ("1", "on", "true", "yes")


def zone_of(request: Request) -> ZoneInfo:
    return ZoneInfo(getattr(request.state, "timezone", "Asia/Shanghai"))


def local_value(value: datetime | None, zone: ZoneInfo) -> str:
    """A UTC time as the value of a ``datetime-local`` input."""
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value else ""


def day_range(
    start: str | None, end: str | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """``?from=2026-03-01&to=2026-03-31`` (local days, both included) as [start, end) in UTC."""

    def parse(text: str | None) -> date | None:
        try:
            return date.fromisoformat(text) if text else None
        except ValueError:
            return None

    first, last = parse(start), parse(end)

    def at(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)

    return (
        at(first) if first else None,
        at(last + timedelta(days=1)) if last else None,
    )


def mask_name(name: str | None) -> str:
    """``张三丰`` -> ``张**``: enough for a clerk to greet, not to identify."""
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str | None) -> str:
    """``+8613912345678`` -> ``139****5678``."""
    if not phone:
        return ""
    digits = phone.removeprefix("+86") if phone.startswith("+86") else phone.lstrip("+")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def stores_of(session: Session, who: ConsoleIdentity) -> list[Store]:
    """The active stores this user may act for: their own, or every store for HQ roles."""
    stmt = select(Store).where(Store.program_id == who.program_id, Store.active.is_(True))
    if who.store_bound:
        stmt = stmt.where(Store.id.in_(who.store_ids))
    return list(session.scalars(stmt.order_by(Store.code)))


def all_stores(session: Session, program_id: int) -> list[Store]:
    stmt = select(Store).where(Store.program_id == program_id).order_by(Store.code)
    return list(session.scalars(stmt))
