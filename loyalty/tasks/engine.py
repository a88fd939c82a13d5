"""What a task event earns: a pure function of the task and the member's counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from loyalty.rules.engine import Award


@dataclass(frozen=True)
class TaskSpec:
    type: str
    name: str
    points: int
    name_en: str | None = None
    daily_limit: int | None = None
    lifetime_limit: int | None = None
    streak_bonuses: dict[int, int] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class EventCounts:
    """Events of this type before this one: today (local) and ever; the streak incl. today."""

    today: int
    total: int
    streak: int = 1


def evaluate_event(task: TaskSpec, counts: EventCounts) -> tuple[list[Award], str | None]:
    """The awards, or none and the reason (a limit reached)."""
    if task.daily_limit is not None and counts.today >= task.daily_limit:
        return [], f"daily limit of {task.daily_limit} reached"
    if task.lifetime_limit is not None and counts.total >= task.lifetime_limit:
        return [], f"lifetime limit of {task.lifetime_limit} reached"
    name_en = task.name_en or task.name
    awards = [
        Award(
            "task",
            task.points,
            f"{task.name}: +{task.points}",
            f"{name_en}: +{task.points}",
            task.id,
        )
    ]
    bonus = task.streak_bonuses.get(counts.streak, 0)
    if bonus:
        awards.append(
            Award(
                "streak",
                bonus,
                f"连续{task.name} {counts.streak} 天奖励: +{bonus}",
                f"{name_en} {counts.streak} days in a row: +{bonus}",
                task.id,
            )
        )
    return [a for a in awards if a.points > 0], None
