"""Reading the audit log: newest first, filtered by user, action, target and time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from loyalty.users.models import AuditEntry, ConsoleUser


@dataclass(frozen=True)
class AuditFilter:
    """What the owner looks for. ``action`` matches a prefix (``store`` finds ``store.save``);
    ``target`` is a type (``user``) or a type and id (``user:7``); times are UTC bounds."""

    username: str = ""
    action: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _query(program_id: int, f: AuditFilter) -> Select[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.program_id == program_id)
    if f.username:
        query = query.where(AuditEntry.username == f.username.strip().lower())
    if f.action:
        query = query.where(AuditEntry.action.startswith(f.action.strip(), autoescape=True))
    if f.target:
        kind, _, ident = f.target.strip().partition(":")
        query = query.where(AuditEntry.target_type == kind.strip())
        if ident.strip():
            query = query.where(AuditEntry.target_id == ident.strip())
    if f.since is not None:
        query = query.where(AuditEntry.at >= f.since)
    if f.until is not None:
        query = query.where(AuditEntry.at < f.until)
    return query.order_by(AuditEntry.id.desc())


def audit_page(
    session: Session, program_id: int, f: AuditFilter, before: int | None, limit: int
) -> tuple[list[AuditEntry], int | None]:
    """One page of entries older than ``before`` and the cursor of the next page, if any."""
    query = _query(program_id, f)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    return rows[:limit], (rows[limit - 1].id if more else None)


def audit_entries(session: Session, program_id: int, f: AuditFilter) -> Iterator[AuditEntry]:
    """Every matching entry, newest first, read in chunks (for exports)."""
    yield from session.scalars(_query(program_id, f).execution_options(yield_per=1000))


def audit_choices(session: Session, program_id: int) -> tuple[list[str], list[str]]:
    """The console's user names and the actions that occur in the log (for the filter)."""
    users = session.scalars(
        select(ConsoleUser.username).where(ConsoleUser.program_id == program_id)
    ).all()
    where = AuditEntry.program_id == program_id
    actions = session.scalars(select(AuditEntry.action).where(where).distinct()).all()
    return sorted(users), sorted(actions)
