"""Tier levels: define them, qualify members, upgrade at once, downgrade on evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, case, func, select
from sqlalchemy.orm import Session

from loyalty.db.base import UTCDateTime
from loyalty.db.engine import any_of, fetch_all
from loyalty.errors import ConflictError, InvalidRequestError, NotFoundError
from loyalty.members.models import Member
from loyalty.money import yuan
from loyalty.notifications.outbox import emit_many
from loyalty.orders.models import Order
from loyalty.programs.models import Program
from loyalty.rewards.models import Reward
from loyalty.rules.models import Rule
from loyalty.rules.service import touch
from loyalty.tiers.models import METRICS, Tier, TierChange

BASE = "base"


class TierNotFoundError(NotFoundError):
    code = "tier_not_found"
    title = "Tier not found"


class InvalidTierError(InvalidRequestError):
    code = "invalid_tier"
    title = "Invalid tier"


class TierCodeTakenError(ConflictError):
    code = "tier_code_taken"
    title = "Tier code already exists"


class TierIsBaseError(ConflictError):
    code = "tier_is_base"
    title = "The base tier cannot be deleted"


class TierInUseError(ConflictError):
    code = "tier_in_use"
    title = "Members hold this tier"


class TierInUseByRulesError(ConflictError):
    code = "tier_in_use_by_rules"
    title = "Earning rules name this tier"


class TierInUseByRewardsError(ConflictError):
    code = "tier_in_use_by_rewards"
    title = "Rewards are shown to this tier"


@dataclass(frozen=True)
class TierSpec:
    code: str
    name: str
    name_en: str | None
    rank: int
    metric: str
    threshold: int
    window_days: int
    multiplier: Fraction
    discount_rate: str | None
    perks: tuple[Any, ...]


BASE_SPEC = TierSpec(BASE, "普通会员", "Member", 0, "spend", 0, 365, Fraction(1), None, ())


def _spec(t: Tier) -> TierSpec:
    return TierSpec(
        t.code,
        t.name,
        t.name_en,
        t.rank,
        t.metric,
        t.threshold,
        t.window_days,
        Fraction(t.multiplier),
        t.discount_rate,
        tuple(t.perks or ()),
    )


def _decimal(value: Any, field: str, lo: Decimal, hi: Decimal) -> str:
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidTierError(f'{field} must be a decimal such as "1.2"', field=field) from exc
    if isinstance(value, float) or not lo <= d <= hi:
        raise InvalidTierError(f"{field} must be a decimal string from {lo} to {hi}", field=field)
    return str(d)


def save_tier(session: Session, program: Program, data: dict[str, Any], now: datetime) -> Tier:
    """Create or replace the tier with ``data['code']``; ranks must stay unique."""
    if data["metric"] not in METRICS:
        raise InvalidTierError(f"metric is one of {', '.join(METRICS)}", field="metric")
    values = {
        "name": data["name"],
        "name_en": data.get("name_en"),
        "rank": data["rank"],
        "metric": data["metric"],
        "threshold": data["threshold"],
        "window_days": data["window_days"],
        "multiplier": _decimal(data.get("multiplier", "1"), "multiplier", Decimal(1), Decimal(10)),
        "discount_rate": _decimal(
            data["discount_rate"], "discount_rate", Decimal("0.01"), Decimal(1)
        )
        if data.get("discount_rate")
        else None,
        "perks": data.get("perks", []),
    }
    tier = session.scalar(
        select(Tier).where(Tier.program_id == program.id, Tier.code == data["code"])
    )
    if tier is None:
        tier = Tier(program_id=program.id, code=data["code"], created_at=now)
        session.add(tier)
    for key, value in values.items():
        setattr(tier, key, value)
    _check_ladder(session, program.id, tier)
    touch(program)
    return tier


def delete_tier(session: Session, program: Program, code: str) -> TierSpec:
    """Remove a tier nobody holds and no rule names; tier history keeps its code.

    Refused (409) for the base tier, for a tier members hold (``members`` in the problem) and
    for a tier earning rules name in their conditions, enabled or not (``rules``: their ids
    and names), since a rule switched back on would otherwise silently match nobody.
    """
    if code == BASE:
        raise TierIsBaseError("'base' is the built-in tier every member starts at")
    tier = session.scalar(select(Tier).where(Tier.program_id == program.id, Tier.code == code))
    if tier is None:
        raise TierNotFoundError(f"tier {code!r} does not exist")
    holders = tier_holders(session, program.id, code)
    if holders:
        raise TierInUseError(f"{holders} members hold tier {code!r}", members=holders)
    rules = rules_naming_tier(session, program.id, code)
    if rules:
        raise TierInUseByRulesError(
            f"rules naming tier {code!r}: {_listed(rules)}", rules=_named(rules)
        )
    rewards = rewards_for_tier(session, program.id, code)
    if rewards:
        raise TierInUseByRewardsError(
            f"rewards shown to tier {code!r}: {_listed(rewards)}", rewards=_named(rewards)
        )
    spec = _spec(tier)
    session.delete(tier)
    session.flush()
    touch(program)
    return spec


def tier_holders(session: Session, program_id: int, code: str) -> int:
    """Members (merged accounts aside) who hold the tier now."""
    count = session.scalar(
        select(func.count()).where(
            Member.program_id == program_id, Member.tier_code == code, Member.status != "merged"
        )
    )
    return int(count or 0)


def rules_naming_tier(session: Session, program_id: int, code: str) -> list[Rule]:
    """Earning rules, enabled or not, whose conditions name the tier."""
    rules = session.scalars(select(Rule).where(Rule.program_id == program_id).order_by(Rule.id))
    return [
        r for r in rules if code in ((r.definition or {}).get("conditions") or {}).get("tiers", ())
    ]


def rewards_for_tier(session: Session, program_id: int, code: str) -> list[Reward]:
    """Points-mall rewards whose visibility names the tier (deleting it would hide them)."""
    rewards = session.scalars(
        select(Reward).where(Reward.program_id == program_id).order_by(Reward.id)
    )
    return [r for r in rewards if code in (r.tiers or ())]


def _listed(items: Sequence[Rule] | Sequence[Reward]) -> str:
    return ", ".join(f"{r.id} ({r.name})" for r in items)


def _named(items: Sequence[Rule] | Sequence[Reward]) -> list[dict[str, object]]:
    return [{"id": r.id, "name": r.name} for r in items]


def _check_ladder(session: Session, program_id: int, tier: Tier) -> None:
    session.flush()
    others = [
        t
        for t in session.scalars(select(Tier).where(Tier.program_id == program_id))
        if t.id != tier.id
    ]
    if tier.rank < 1 or any(t.rank == tier.rank for t in others):
        raise InvalidTierError(
            "rank must be 1 or more and unique (rank 0 is the base tier)", field="rank"
        )
    if tier.code == BASE:
        raise TierCodeTakenError("'base' is the built-in base tier")


def program_tiers(session: Session, program: Program) -> list[TierSpec]:
    """The ladder, lowest first, base tier included; cached until the program's stamp moves."""
    cached = _ladders.get(program.id)
    if cached and cached[0] == program.rules_stamp:
        return cached[1]
    rows = session.scalars(select(Tier).where(Tier.program_id == program.id).order_by(Tier.rank))
    ladder = [BASE_SPEC, *(_spec(t) for t in rows)]
    _ladders[program.id] = (program.rules_stamp, ladder)
    return ladder


_ladders: dict[int, tuple[str, list[TierSpec]]] = {}


def tier_of(ladder: Sequence[TierSpec], code: str | None) -> TierSpec:
    return next((t for t in ladder if t.code == code), ladder[0])


# --- qualification -----------------------------------------------------------------------------


def _metric_columns(since: Any) -> dict[str, Any]:
    recent = Order.occurred_at > since
    return {
        "spend": func.coalesce(
            func.sum(case((recent, Order.amount - Order.refunded_amount), else_=0)), 0
        ),
        "points": func.coalesce(
            func.sum(case((recent, Order.points_awarded - Order.points_reversed), else_=0)), 0
        ),
        "orders": func.coalesce(
            func.sum(case((recent & (Order.refunded_amount < Order.amount), 1), else_=0)), 0
        ),
    }


def metrics_for(
    session: Session, member_ids: Sequence[int], ladder: Sequence[TierSpec], as_of: datetime
) -> dict[int, dict[tuple[str, int], int]]:
    """Per member, each (metric, window) the ladder uses, over orders up to ``as_of``.

    Every order asks this (an upgrade happens inside the order), so the statement is built
    and compiled once per set of windows and only its values change.
    """
    windows = tuple(sorted({t.window_days for t in ladder[1:]}))
    if not windows or not member_ids:
        return {}
    postgres = session.get_bind().dialect.name == "postgresql"
    params: dict[str, Any] = {f"since_{days}": as_of - timedelta(days=days) for days in windows}
    params |= {"as_of": as_of, "ids": list(member_ids)}
    statement, keys = _metrics_statement(windows, postgres)
    rows = fetch_all(session.connection(), statement, params)
    return {row[0]: dict(zip(keys, (int(v) for v in row[1:]), strict=True)) for row in rows}


_METRICS: dict[tuple[tuple[int, ...], bool], tuple[Select[Any], list[tuple[str, int]]]] = {}


def _metrics_statement(
    windows: tuple[int, ...], postgres: bool
) -> tuple[Select[Any], list[tuple[str, int]]]:
    """Members' metrics over each window, with ``since_N``, ``as_of`` and ``ids`` to bind,
    and the (metric, window) each column after the member id holds."""
    if (windows, postgres) not in _METRICS:
        since = {days: bindparam(f"since_{days}", type_=UTCDateTime()) for days in windows}
        metrics = {days: _metric_columns(since[days]) for days in windows}
        columns = [col for days in windows for col in metrics[days].values()]
        keys = [(name, days) for days in windows for name in metrics[days]]
        ids = any_of(Order.member_id, BigInteger, postgres)
        statement = (
            select(Order.member_id, *columns)
            .where(
                ids,
                Order.occurred_at <= bindparam("as_of", type_=UTCDateTime()),
                Order.occurred_at > since[max(windows)],
            )
            .group_by(Order.member_id)
        )
        _METRICS[(windows, postgres)] = (statement, keys)
    return _METRICS[(windows, postgres)]


def qualified(ladder: Sequence[TierSpec], metrics: dict[tuple[str, int], int]) -> TierSpec:
    best = ladder[0]
    for tier in ladder[1:]:
        if metrics.get((tier.metric, tier.window_days), 0) >= tier.threshold:
            best = tier
    return best


def upgrade_members(
    session: Session, program: Program, members: Sequence[Member], now: datetime
) -> dict[int, TierSpec]:
    """Upgrade at once every member who now qualifies for a higher tier (never downgrades)."""
    ladder = program_tiers(session, program)
    if len(ladder) == 1:
        return {}
    metrics = metrics_for(session, [m.id for m in members], ladder, now)
    upgrades = [(m, qualified(ladder, metrics.get(m.id, {}))) for m in members]
    upgrades = [(m, t) for m, t in upgrades if t.rank > tier_of(ladder, m.tier_code).rank]
    change_tiers(session, program, upgrades, "upgrade", now)
    return {m.id: t for m, t in upgrades}


def change_tiers(
    session: Session,
    program: Program,
    changes: Sequence[tuple[Member, TierSpec]],
    reason: str,
    now: datetime,
) -> None:
    """Move each member to their tier, with its history row and one event each, written
    together (a batch whose orders lift many members writes them in one go, not one by one)."""
    events: list[tuple[int, str, int | None, dict[str, Any]]] = []
    for member, target in changes:
        old = member.tier_code or BASE
        member.tier_code = None if target.code == BASE else target.code
        member.tier_since = now
        if reason == "upgrade" and program.tier_protection_days:
            member.tier_protected_until = now + timedelta(days=program.tier_protection_days)
        session.add(
            TierChange(
                program_id=program.id,
                member_id=member.id,
                from_code=old,
                to_code=target.code,
                reason=reason,
                changed_at=now,
            )
        )
        payload = {"member_id": member.id, "from": old, "to": target.code, "reason": reason}
        events.append((program.id, "tier.changed", member.id, payload))
    emit_many(session, events, now)


def progress(session: Session, program: Program, member: Member, now: datetime) -> dict[str, Any]:
    """The member's tier, its benefits, and what is missing to reach the next one."""
    ladder = program_tiers(session, program)
    current = tier_of(ladder, member.tier_code)
    higher = [t for t in ladder if t.rank > current.rank]
    out: dict[str, Any] = {**tier_json(current), "since": _iso(member.tier_since), "next": None}
    if higher:
        nxt = higher[0]
        value = (
            metrics_for(session, [member.id], ladder, now)
            .get(member.id, {})
            .get((nxt.metric, nxt.window_days), 0)
        )
        out["next"] = {
            "code": nxt.code,
            "name": nxt.name,
            "metric": nxt.metric,
            "window_days": nxt.window_days,
            "threshold": nxt.threshold,
            "current": value,
            "remaining": max(nxt.threshold - value, 0),
            "hint": _hint(nxt, max(nxt.threshold - value, 0)),
        }
    return out


def _hint(tier: TierSpec, remaining: int) -> str:
    if tier.metric == "spend":
        return f"再消费 ¥{yuan(remaining, cents=True)} 升级{tier.name}"
    unit = "积分" if tier.metric == "points" else "笔订单"
    return f"再获得 {remaining} {unit} 升级{tier.name}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def tier_json(t: TierSpec) -> dict[str, Any]:
    return {
        "code": t.code,
        "name": t.name,
        "name_en": t.name_en,
        "rank": t.rank,
        "metric": t.metric,
        "threshold": t.threshold,
        "window_days": t.window_days,
        "multiplier": str(Decimal(t.multiplier.numerator) / Decimal(t.multiplier.denominator)),
        "discount_rate": t.discount_rate,
        "perks": list(t.perks),
    }


def history(session: Session, member_id: int) -> list[TierChange]:
    return list(
        session.scalars(
            select(TierChange).where(TierChange.member_id == member_id).order_by(TierChange.id)
        )
    )
