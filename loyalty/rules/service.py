"""Create, change, version and load earning rules."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import NotFoundError
from loyalty.programs.models import Program
from loyalty.rules.models import Rule, RuleVersion
from loyalty.rules.spec import InvalidRuleError, RuleSpec, parse_rule

STATUSES = ("enabled", "disabled")


class RuleNotFoundError(NotFoundError):
    code = "rule_not_found"
    title = "Rule not found"


def touch(program: Program) -> None:
    """Tell every process that rules or tiers changed (they reload at their next request)."""
    program.rules_stamp = secrets.token_hex(8)


def spec_of(rule: Rule) -> RuleSpec:
    return parse_rule(
        rule.definition,
        id=rule.id,
        version=rule.version,
        active_from=rule.active_from,
        active_until=rule.active_until,
    )


def create_rule(
    session: Session,
    program: Program,
    definition: dict[str, Any],
    *,
    status: str,
    active_from: datetime | None,
    active_until: datetime | None,
    actor: str,
    now: datetime,
) -> Rule:
    spec = parse_rule(definition, active_from=active_from, active_until=active_until)
    _check_status(status)
    rule = Rule(
        program_id=program.id,
        name=spec.name,
        kind=spec.kind,
        definition=definition,
        status=status,
        version=1,
        active_from=active_from,
        active_until=active_until,
        budget_used=0,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    session.flush()
    _record_version(session, rule, actor, now)
    touch(program)
    return rule


def update_rule(
    session: Session,
    program: Program,
    rule_id: int,
    changes: dict[str, Any],
    actor: str,
    now: datetime,
) -> Rule:
    """A new version: the old one stays in ``rule_versions`` and in the entries it produced."""
    rule = get_rule(session, program.id, rule_id, lock=True)
    definition = {**rule.definition, **changes.get("definition", {})}
    active_from = changes.get("active_from", rule.active_from)
    active_until = changes.get("active_until", rule.active_until)
    status = changes.get("status", rule.status)
    _check_status(status)
    spec = parse_rule(definition, active_from=active_from, active_until=active_until)
    rule.definition, rule.name, rule.kind = definition, spec.name, spec.kind
    rule.status, rule.active_from, rule.active_until = status, active_from, active_until
    rule.version += 1
    rule.updated_at = now
    _record_version(session, rule, actor, now)
    touch(program)
    return rule


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise InvalidRuleError("status is 'enabled' or 'disabled'", field="status")


def _record_version(session: Session, rule: Rule, actor: str, now: datetime) -> None:
    session.add(
        RuleVersion(
            rule_id=rule.id,
            version=rule.version,
            definition=rule.definition,
            status=rule.status,
            active_from=rule.active_from,
            active_until=rule.active_until,
            actor=actor,
            created_at=now,
        )
    )
    session.flush()


def get_rule(session: Session, program_id: int, rule_id: int, *, lock: bool = False) -> Rule:
    stmt = select(Rule).where(Rule.id == rule_id, Rule.program_id == program_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    rule = session.scalar(stmt)
    if rule is None:
        raise RuleNotFoundError(f"rule {rule_id} does not exist")
    return rule


def list_rules(session: Session, program_id: int, status: str | None = None) -> list[Rule]:
    stmt = select(Rule).where(Rule.program_id == program_id).order_by(Rule.id)
    if status:
        stmt = stmt.where(Rule.status == status)
    return list(session.scalars(stmt))


def versions(session: Session, rule_id: int) -> list[RuleVersion]:
    return list(
        session.scalars(
            select(RuleVersion).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version)
        )
    )


_active: dict[int, tuple[str, list[RuleSpec]]] = {}


def active_rules(session: Session, program: Program) -> list[RuleSpec]:
    """The enabled rules as frozen specs, cached per process until the program's stamp moves."""
    cached = _active.get(program.id)
    if cached and cached[0] == program.rules_stamp:
        return cached[1]
    specs = [spec_of(r) for r in list_rules(session, program.id, "enabled")]
    _active[program.id] = (program.rules_stamp, specs)
    return specs


def rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": rule.kind,
        "status": rule.status,
        "version": rule.version,
        "definition": rule.definition,
        "active_from": rule.active_from.isoformat() if rule.active_from else None,
        "active_until": rule.active_until.isoformat() if rule.active_until else None,
        "budget_used": rule.budget_used,
        "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }
