"""Change a program's settings and say what changed (for the audit log).

The changes are validated beforehand by ``ProgramPatch`` (the schema of ``PATCH /v1/program``);
this applies them the way that endpoint does: set, check the time zone, and move the
program's stamp so every process reloads what it cached about the program.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from loyalty.programs.models import Program
from loyalty.programs.service import get_program
from loyalty.rules.service import touch

Changes = dict[str, tuple[Any, Any]]


def _plain(value: Any) -> Any:
    """A value as JSON can hold it (Decimal as text, lists copied)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list | tuple):
        return list(value)
    return value


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return Decimal(str(old)) == Decimal(str(new))
    return bool(old == new)


def apply_settings(session: Session, program_id: int, wanted: dict[str, Any]) -> Changes:
    """Set the ``wanted`` values; returns ``{field: (before, after)}`` for those that changed."""
    program: Program = get_program(session, program_id)
    changes: Changes = {}
    for field, value in wanted.items():
        before = getattr(program, field)
        if not _same(before, value):
            changes[field] = (_plain(before), _plain(value))
            setattr(program, field, value)
    ZoneInfo(program.timezone)
    if changes:
        touch(program)
        session.flush()
    return changes
