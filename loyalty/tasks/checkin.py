"""Daily check-in from the member page: one event per member per local day.

The event id is ``check_in-<member id>-<local date>``, so a double tap (or a retry) posts the
same event twice and ``post_event`` answers the second with the first answer: points are
awarded exactly once a day, whatever the task's own limits say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.orders.service import fingerprint
from loyalty.programs.models import Program
from loyalty.tasks.models import Event, Task
from loyalty.tasks.service import EventRequest, find_task, post_event

CHECK_IN = "check_in"


@dataclass(frozen=True)
class CheckInState:
    """What the member page shows about today's check-in."""

    task: Task
    done_today: bool
    points_today: int
    streak: int


def local_date(program: Program, now: datetime) -> date:
    return now.astimezone(ZoneInfo(program.timezone)).date()


def check_in_event_id(member_id: int, day: date) -> str:
    return f"{CHECK_IN}-{member_id}-{day.isoformat()}"


def check_in(session: Session, program: Program, member_id: int, now: datetime) -> dict[str, Any]:
    """Check the member in for today (local); a second call the same day changes nothing."""
    event_id = check_in_event_id(member_id, local_date(program, now))
    request_hash = fingerprint({"event_id": event_id, "member_id": member_id, "type": CHECK_IN})
    return post_event(
        session, program, EventRequest(event_id, member_id, CHECK_IN, now, request_hash), now
    )


def check_in_state(
    session: Session, program: Program, member_id: int, now: datetime
) -> CheckInState | None:
    """Today's check-in and the streak; None when the program has no enabled check-in task."""
    task = find_task(session, program.id, CHECK_IN)
    if task is None or task.status != "enabled":
        return None
    today = local_date(program, now)
    event = session.scalar(
        select(Event).where(
            Event.program_id == program.id,
            Event.event_id == check_in_event_id(member_id, today),
        )
    )
    if event is not None:
        return CheckInState(task, True, event.points, event.streak)
    return CheckInState(task, False, 0, _streak_until(session, member_id, today))


def _streak_until(session: Session, member_id: int, today: date) -> int:
    """The run of rewarded check-ins that ended yesterday (0 if yesterday was missed)."""
    streak = session.scalar(
        select(func.max(Event.streak)).where(
            Event.member_id == member_id,
            Event.type == CHECK_IN,
            Event.points > 0,
            Event.day == today - timedelta(days=1),
        )
    )
    return int(streak or 0)
