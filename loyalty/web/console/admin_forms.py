"""What the administration pages share: form checking in the reader's language, audited
writes whose details come from the change itself, and the export switch."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from loyalty.api.deps import now_factory, write
from loyalty.errors import LoyaltyError, PermissionDeniedError
from loyalty.users.audit import record
from loyalty.users.service import ConsoleIdentity
from loyalty.web.i18n import N_
from loyalty.web.security import client_ip
from loyalty.web.templating import translate

T = TypeVar("T")
Target = tuple[str, object]
Audited = tuple[T, Target, dict[str, Any] | None]
Errors = dict[str, str]

# pydantic's error types, as a merchant would read them
_MESSAGES = {
    "missing": N_("Required"),
    "string_too_short": N_("Required"),
    "string_too_long": N_("At most %(max_length)s characters"),
    "string_pattern_mismatch": N_("Use letters, digits, '-', '_' or '.' only"),
    "literal_error": N_("Choose one of the options"),
    "int_parsing": N_("Enter a whole number"),
    "int_from_float": N_("Enter a whole number"),
    "decimal_parsing": N_("Enter a number"),
    "greater_than": N_("Must be more than %(gt)s"),
    "greater_than_equal": N_("Must be at least %(ge)s"),
    "less_than_equal": N_("Must be at most %(le)s"),
    "decimal_max_places": N_("At most %(decimal_places)s decimal places"),
    "decimal_max_digits": N_("Too many digits"),
    "too_long": N_("At most %(max_length)s entries"),
}
_SPLIT = re.compile(r"[,，、;；\s]+")


def field_errors(request: Request, exc: ValidationError) -> Errors:
    """One readable message per form field (the first problem of each)."""
    errors: Errors = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        message = _MESSAGES.get(error["type"], N_("Invalid value"))
        context = {k: v for k, v in (error.get("ctx") or {}).items() if isinstance(v, int | str)}
        try:
            text = translate(request, message, **context)
        except (KeyError, TypeError, ValueError):
            text = translate(request, N_("Invalid value"))
        errors.setdefault(field, text)
    return errors


def problem_text(request: Request, exc: LoyaltyError) -> str:
    """A domain error for a form: its title in the reader's language."""
    return translate(request, exc.title)


def split_list(text: str) -> list[str]:
    """``"a, b，c"`` -> ``["a", "b", "c"]`` (commas in either script, spaces or new lines)."""
    return [part for part in _SPLIT.split(text.strip()) if part]


def blank_to_none(text: str) -> str | None:
    text = text.strip()
    return text or None


def audited_write(
    request: Request,
    who: ConsoleIdentity,
    action: str,
    work: Callable[[Session, datetime], Audited[T]],
) -> T:
    """Like ``console_write``, for changes whose audit details (before and after values)
    are only known once the change is made: ``work`` returns (result, target, details).
    Details of ``None`` mean nothing changed: no entry is written."""
    clock = now_factory(request)

    def run(session: Session) -> T:
        now = clock()
        result, target, details = work(session, now)
        if details is not None:
            record(session, who, action, now, target, client_ip(request), **details)
        return result

    return write(request, run)


def check_export(who: ConsoleIdentity, fmt: str | None) -> str | None:
    """The export format asked for (``?format=csv``), if the user may export."""
    if fmt and not who.can("export"):
        raise PermissionDeniedError(f"role {who.role!r} may not export")
    return fmt or None
