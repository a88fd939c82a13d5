"""The audit log: every change made in the console, written in the change's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalty.users.models import AuditEntry
from loyalty.users.service import ConsoleIdentity


def record(
    session: Session,
    who: ConsoleIdentity,
    action: str,
    now: datetime,
    target: tuple[str, object] | None = None,
    ip: str | None = None,
    **details: Any,
) -> None:
    """Write one audit entry, e.g. ``record(s, who, "points.adjust", now, ("member", 42))``."""
    session.add(
        AuditEntry(
            program_id=who.program_id,
            user_id=who.user_id,
            username=who.username,
            action=action,
            target_type=target[0] if target else None,
            target_id=str(target[1]) if target else None,
            details=details,
            ip=ip,
            at=now,
        )
    )
