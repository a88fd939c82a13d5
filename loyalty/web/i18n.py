"""Chinese first, English switchable: message catalogs and locale-aware formatting.

Messages are written in English in the templates and code (``_("Members")``) and translated in
``locale/zh_CN/LC_MESSAGES/*.po``, one catalog per area of the product, merged at start-up. The
catalogs are compiled in memory, so no binary ``.mo`` file is kept in the repository.
``tests/test_web_i18n.py`` fails if any message lacks a Chinese translation.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

Gettext = Callable[..., str]


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


@cache
def translations(locale: str) -> NullTranslations:
    """Every catalog of ``locale`` merged into one (English needs none)."""
    merged: NullTranslations | None = None
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fp:
            catalog = read_po(fp, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = Translations(buffer)
        if merged is None:
            merged = part
        elif isinstance(merged, Translations):
            merged.merge(part)
    return merged or NullTranslations()


def gettext_for(locale: str) -> Gettext:
    """``_("Hello %(name)s", name=x)``: translate, then fill in the named values."""
    catalog = translations(locale)

    def gettext(message: str, **values: Any) -> str:
        text = catalog.gettext(message)
        return text % values if values else text

    return gettext


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The ``lang`` cookie if set, else Chinese unless the browser asks for English first."""
    if cookie in LOCALES:
        return cookie
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else DEFAULT_LOCALE


class Formats:
    """Numbers, money and times the way a reader of ``locale`` expects, in the program's zone."""

    def __init__(self, locale: str, timezone: str = "Asia/Shanghai") -> None:
        self.locale = Locale.parse(locale)
        self.zone = ZoneInfo(timezone)

    def number(self, value: int | float | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)

    def yuan(self, fen: int | None) -> str:
        """Money in fen shown as yuan: ``¥1,234.50``."""
        if fen is None:
            return ""
        sign = "-" if fen < 0 else ""
        whole, cents = divmod(abs(fen), 100)
        return f"{sign}¥{format_decimal(whole, locale=self.locale)}.{cents:02d}"

    def percent(self, ratio: float | None) -> str:
        return "" if ratio is None else f"{ratio * 100:.1f}%"

    def datetime(self, value: dt.datetime | None, fmt: str = "short") -> str:
        if value is None:
            return ""
        local = value.astimezone(self.zone)
        return format_datetime(local, format=fmt, tzinfo=self.zone, locale=self.locale)

    def date(self, value: dt.date | dt.datetime | None, fmt: str = "medium") -> str:
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            value = value.astimezone(self.zone).date()
        return format_date(value, format=fmt, locale=self.locale)
