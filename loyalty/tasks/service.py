"""Task events (check-in, share, review, profile, registration) and referral rewards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.errors import ConflictError, InvalidRequestError
from loyalty.ledger.policy import available_at_for, expiry_for
from loyalty.ledger.service import Credit, credit
from loyalty.members.models import Member
from loyalty.members.service import lock_member, require_active
from loyalty.notifications.outbox import emit
from loyalty.programs.models import Program
from loyalty.rules.engine import Award
from loyalty.tasks.engine import EventCounts, TaskSpec, evaluate_event
from loyalty.tasks.models import Event, ReferralReward, ReferralSettings, Task

TRIGGERS = ("registration", "first_order")


class EventConflictError(ConflictError):
    code = "event_conflict"
    title = "Event id already used for another event"


class UnknownEventTypeError(InvalidRequestError):
    code = "unknown_event_type"
    title = "No task rewards this event type"


@dataclass(frozen=True)
class EventRequest:
    event_id: str
    member_id: int
    type: str
    occurred_at: datetime
    request_hash: str


def spec(task: Task) -> TaskSpec:
    return TaskSpec(
        type=task.type,
        name=task.name,
        name_en=task.name_en,
        points=task.points,
        daily_limit=task.daily_limit,
        lifetime_limit=task.lifetime_limit,
        streak_bonuses={int(k): v for k, v in (task.streak_bonuses or {}).items()},
        id=task.id,
    )


def save_task(
    session: Session, program: Program, type_: str, data: dict[str, Any], now: datetime
) -> Task:
    task = find_task(session, program.id, type_)
    if task is None:
        task = Task(program_id=program.id, type=type_, created_at=now)
        session.add(task)
    for key, value in data.items():
        setattr(task, key, value)
    session.flush()
    return task


def find_task(session: Session, program_id: int, type_: str) -> Task | None:
    return session.scalar(select(Task).where(Task.program_id == program_id, Task.type == type_))


def list_tasks(session: Session, program_id: int) -> list[Task]:
    return list(
        session.scalars(select(Task).where(Task.program_id == program_id).order_by(Task.id))
    )


def post_event(
    session: Session, program: Program, req: EventRequest, now: datetime
) -> dict[str, Any]:
    """Reward a task event once per ``event_id``, within the task's limits."""
    done = session.scalar(
        select(Event).where(Event.program_id == program.id, Event.event_id == req.event_id)
    )
    if done is not None:
        if done.request_hash != req.request_hash:
            raise EventConflictError(f"event {req.event_id} was posted with another body")
        return done.response
    task = find_task(session, program.id, req.type)
    if task is None or task.status != "enabled":
        raise UnknownEventTypeError(f"no enabled task for event type {req.type!r}", field="type")
    member = lock_member(session, program.id, req.member_id)
    require_active(member)
    return _reward(session, program, member, spec(task), req, now)


def _reward(
    session: Session,
    program: Program,
    member: Member,
    task: TaskSpec,
    req: EventRequest,
    now: datetime,
) -> dict[str, Any]:
    day = req.occurred_at.astimezone(ZoneInfo(program.timezone)).date()
    counts = _counts(session, member.id, task.type, day)
    awards, refused = evaluate_event(task, counts)
    points = sum(a.points for a in awards)
    if points:
        _credit(
            session,
            program,
            member,
            points,
            awards,
            "event",
            req.event_id,
            req.occurred_at,
            now,
            f"{task.name}奖励",
        )
    body = {
        "event_id": req.event_id,
        "member_id": member.id,
        "type": task.type,
        "points": {"awarded": points, "reason": refused},
        "breakdown": [a.as_dict() for a in awards],
        "streak": counts.streak,
        "member_points": {"available": member.points_available, "pending": member.points_pending},
    }
    session.add(
        Event(
            program_id=program.id,
            event_id=req.event_id,
            member_id=member.id,
            type=task.type,
            occurred_at=req.occurred_at,
            day=day,
            streak=counts.streak if not refused else 0,
            points=points,
            request_hash=req.request_hash,
            response=body,
            created_at=now,
        )
    )
    session.flush()
    return body


def _counts(session: Session, member_id: int, type_: str, day: Any) -> EventCounts:
    mine = (Event.member_id == member_id) & (Event.type == type_) & (Event.points > 0)
    today = session.scalar(select(func.count()).where(mine, Event.day == day)) or 0
    total = session.scalar(select(func.count()).where(mine)) or 0
    yesterday = (
        session.scalar(
            select(func.max(Event.streak)).where(mine, Event.day == day - timedelta(days=1))
        )
        or 0
    )
    return EventCounts(today=today, total=total, streak=yesterday + 1)


def _credit(
    session: Session,
    program: Program,
    member: Member,
    points: int,
    awards: list[Award],
    source_type: str,
    source_id: str,
    at: datetime,
    now: datetime,
    description: str,
) -> None:
    credit(
        session,
        Credit(
            member=member,
            points=points,
            kind="earn",
            source_type=source_type,
            source_id=source_id,
            occurred_at=at,
            expires_at=expiry_for(program, at),
            available_at=available_at_for(program, at, now) if source_type != "event" else None,
            description=description,
            breakdown=[list(a) for a in awards],  # as the ledger keeps awards (ledger.awards)
        ),
        now,
    )
    emit(
        session,
        program.id,
        "points.earned",
        {"member_id": member.id, "points": points, "source": source_type, "source_id": source_id},
        now,
        member.id,
    )


# --- registration and referrals ----------------------------------------------------------------


def on_registration(session: Session, program: Program, member: Member, now: datetime) -> None:
    """The registration task's reward and, if referrals pay on registration, the referrers'."""
    task = find_task(session, program.id, "registration")
    if task is not None and task.status == "enabled":
        req = EventRequest(
            f"registration-{member.id}",
            member.id,
            "registration",
            member.registered_at,
            "registration",
        )
        _reward(session, program, member, spec(task), req, now)
    reward_referrals(session, program, [member], "registration", now)


def referral_settings(session: Session, program_id: int) -> ReferralSettings | None:
    return session.scalar(select(ReferralSettings).where(ReferralSettings.program_id == program_id))


def reward_referrals(
    session: Session, program: Program, referees: list[Member], trigger: str, now: datetime
) -> None:
    """Pay each referee's referrer chain (up to the configured levels), once per level."""
    referred = [m for m in referees if m.referrer_id]
    if not referred:
        return
    settings = referral_settings(session, program.id)
    if settings is None or settings.status != "enabled" or settings.trigger != trigger:
        return
    for referee in referred:
        _pay_chain(session, program, referee, settings.levels, trigger, now)


def _pay_chain(
    session: Session,
    program: Program,
    referee: Member,
    levels: list[int],
    trigger: str,
    now: datetime,
) -> None:
    seen = {referee.id}
    referrer_id = referee.referrer_id
    for level, points in enumerate(levels, start=1):
        if referrer_id is None or referrer_id in seen:
            return  # the chain ended, or loops back: nobody is paid twice
        seen.add(referrer_id)
        referrer = lock_member(session, program.id, referrer_id)
        if _paid(session, referee.id, level) or referrer.status != "active" or points <= 0:
            referrer_id = referrer.referrer_id
            continue
        award = Award(
            "referral",
            points,
            f"推荐{'好友' if level == 1 else '的好友再推荐'} {referee.member_no}: +{points}",
            f"Referral level {level} ({referee.member_no}): +{points}",
        )
        _credit(
            session,
            program,
            referrer,
            points,
            [award],
            "referral",
            f"{referee.id}:{level}",
            now,
            now,
            "推荐奖励",
        )
        session.add(
            ReferralReward(
                program_id=program.id,
                referee_id=referee.id,
                referrer_id=referrer.id,
                level=level,
                points=points,
                trigger=trigger,
                created_at=now,
            )
        )
        session.flush()
        referrer_id = referrer.referrer_id


def _paid(session: Session, referee_id: int, level: int) -> bool:
    return (
        session.scalar(
            select(ReferralReward.id).where(
                ReferralReward.referee_id == referee_id, ReferralReward.level == level
            )
        )
        is not None
    )
