"""Console: earning rules. The list with its switches and exports, and a form for people that
checks the rule as it is typed (with the real ``parse_rule``) and says it in plain words.

Saving goes through the rules service: a change is a new version, never a rewrite, and every
change is audited. Simulation and back-test live in ``rule_trials``; tiers in ``tiers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import now_factory, reading
from loyalty.errors import ConflictError, PermissionDeniedError
from loyalty.programs.service import get_program
from loyalty.rules.models import Rule
from loyalty.rules.service import (
    create_rule,
    get_rule,
    list_rules,
    spec_of,
    update_rule,
    versions,
)
from loyalty.rules.spec import InvalidRuleError, RuleSpec, parse_rule
from loyalty.stores.models import Store
from loyalty.tiers.service import program_tiers
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console import rule_trials, tiers
from loyalty.web.console.deps import console_write, require
from loyalty.web.console.rule_form import (
    FIELDS,
    NEW_RULE,
    RuleForm,
    form_values,
    read_rule_form,
    values_of,
)
from loyalty.web.console.rule_trials import LINES, PERIODS, gettext_of, zone_of
from loyalty.web.console.rule_words import KINDS, STACKING, Words, words_for
from loyalty.web.exports import export_response
from loyalty.web.templating import render

router = APIRouter()
router.include_router(rule_trials.router)
router.include_router(tiers.router)

Viewer = Annotated[ConsoleIdentity, Depends(require("rules.view"))]
Editor = Annotated[ConsoleIdentity, Depends(require("rules.edit"))]
RuleId = Annotated[int, Path(ge=1, le=2**62)]


class RuleChangedMeanwhileError(ConflictError):
    code = "rule_changed_meanwhile"
    title = "Someone else changed this rule meanwhile"


@dataclass(frozen=True)
class RuleRow:
    """A rule as the list shows it."""

    rule: Rule
    spec: RuleSpec | None
    conditions: str
    award: str
    caps: str
    schedule: str


def row_of(rule: Rule, words: Words) -> RuleRow:
    try:
        spec: RuleSpec | None = spec_of(rule)
    except InvalidRuleError:
        spec = None  # written before a validation rule tightened; still listed
    if spec is None:
        return RuleRow(rule, None, "", "", "", "")
    return RuleRow(
        rule,
        spec,
        " ".join(words.conditions(spec.conditions)),
        words.award(spec),
        words.join(words.caps(spec)),
        words.schedule(rule.active_from, rule.active_until),
    )


def actor(who: ConsoleIdentity) -> str:
    return f"console:{who.username}"


# --- the list ----------------------------------------------------------------------------------


@router.get("/console/rules", include_in_schema=False)
def rules_page(
    request: Request,
    who: Viewer,
    fmt: Annotated[str | None, Query(alias="format", max_length=8)] = None,
) -> Response:
    with reading(request) as session:
        words = words_for(request, session, who.program_id)
        rows = [row_of(rule, words) for rule in list_rules(session, who.program_id)]
    if fmt is not None:
        if not who.can("export"):
            raise PermissionDeniedError("exports are not allowed for this role")
        return export_response(fmt, "rules", _header(words), (_cells(r, words) for r in rows))
    context = {"rows": rows, "kinds": KINDS, "stacking": STACKING}
    return render(request, "console/rules.html", context)


def _header(words: Words) -> list[str]:
    _ = words._
    return [
        _("ID"),
        _("Name"),
        _("Kind"),
        _("Conditions"),
        _("Award"),
        _("Stacking"),
        _("Priority"),
        _("Caps"),
        _("Budget used"),
        _("Schedule"),
        _("Status"),
        _("Version"),
        _("Updated"),
    ]


def _cells(row: RuleRow, words: Words) -> list[Any]:
    _, rule, spec = words._, row.rule, row.spec
    return [
        rule.id,
        rule.name,
        _(KINDS.get(rule.kind, rule.kind)),
        row.conditions,
        row.award,
        _(STACKING.get(spec.stacking, spec.stacking)) if spec else "",
        spec.priority if spec else "",
        row.caps,
        rule.budget_used,
        row.schedule,
        _("Enabled") if rule.status == "enabled" else _("Disabled"),
        rule.version,
        rule.updated_at,
    ]


@router.post("/console/rules/{rule_id}/{action}", include_in_schema=False)
def switch_rule(
    request: Request, who: Editor, rule_id: RuleId, action: Literal["enable", "disable"]
) -> Response:
    """Switch a rule on or off (a new version, audited); HTMX gets the list row back."""
    status = "enabled" if action == "enable" else "disabled"

    def work(session: Session, now: datetime) -> Rule:
        program = get_program(session, who.program_id)
        return update_rule(session, program, rule_id, {"status": status}, actor(who), now)

    console_write(
        request, who, f"rule.{action}", work, target=lambda r: ("rule", r.id), status=status
    )
    if request.headers.get("hx-request") != "true":
        return RedirectResponse("/console/rules", status_code=303)
    with reading(request) as session:
        words = words_for(request, session, who.program_id)
        row = row_of(get_rule(session, who.program_id, rule_id), words)
    return render(
        request, "console/rules_row.html", {"row": row, "kinds": KINDS, "stacking": STACKING}
    )


# --- the form ----------------------------------------------------------------------------------


@router.post("/console/rules/check", include_in_schema=False)
async def check_rule(request: Request, who: Viewer) -> Response:
    """Validate as the operator types: field messages and the rule in plain words."""
    form = await request.form()
    raw_id = str(form.get("rule_id") or "")
    rule_id = int(raw_id) if raw_id.isdigit() and int(raw_id) < 2**62 else None
    return await run_in_threadpool(_check, request, who, form_values(form), rule_id)


def _check(
    request: Request, who: ConsoleIdentity, values: dict[str, Any], rule_id: int | None
) -> Response:
    typed = read_rule_form(values, zone_of(request), gettext_of(request), rule_id)
    with reading(request) as session:
        words = words_for(request, session, who.program_id)
    context = {
        "errors": typed.errors,
        "sentence": words.sentence(typed.spec) if typed.spec else "",
        "fields": FIELDS,
        "oob": True,
    }
    return render(
        request, "console/rules_check.html", context, status_code=200 if typed.ok else 422
    )


@router.get("/console/rules/new", include_in_schema=False)
def new_rule_page(request: Request, who: Editor) -> Response:
    return form_page(request, who, dict(NEW_RULE), None)


@router.post("/console/rules/new", include_in_schema=False)
async def create_rule_page(request: Request, who: Editor) -> Response:
    values = form_values(await request.form())
    return await run_in_threadpool(_create, request, who, values)


def _create(request: Request, who: ConsoleIdentity, values: dict[str, Any]) -> Response:
    typed = read_rule_form(values, zone_of(request), gettext_of(request))
    if not typed.ok:
        return form_page(request, who, values, None, typed.errors, 422)

    def work(session: Session, now: datetime) -> Rule:
        return create_rule(
            session,
            get_program(session, who.program_id),
            typed.new_definition(),
            status=typed.status,
            active_from=typed.active_from,
            active_until=typed.active_until,
            actor=actor(who),
            now=now,
        )

    rule = console_write(
        request, who, "rule.create", work, target=lambda r: ("rule", r.id), name=values["name"]
    )
    return RedirectResponse(f"/console/rules/{rule.id}?saved=1", status_code=303)


@router.get("/console/rules/{rule_id}", include_in_schema=False)
def rule_page(request: Request, who: Viewer, rule_id: RuleId, saved: bool = False) -> Response:
    with reading(request) as session:
        rule = get_rule(session, who.program_id, rule_id)
    return form_page(request, who, values_of(rule, zone_of(request)), rule, saved=saved)


@router.post("/console/rules/{rule_id}", include_in_schema=False)
async def update_rule_page(request: Request, who: Editor, rule_id: RuleId) -> Response:
    form = await request.form()
    seen = str(form.get("version") or "")
    return await run_in_threadpool(_update, request, who, rule_id, form_values(form), seen)


def _update(
    request: Request, who: ConsoleIdentity, rule_id: int, values: dict[str, Any], seen: str
) -> Response:
    typed = read_rule_form(values, zone_of(request), gettext_of(request), rule_id)
    if not typed.ok:
        with reading(request) as session:
            rule = get_rule(session, who.program_id, rule_id)
        return form_page(request, who, values, rule, typed.errors, 422)

    def work(session: Session, now: datetime) -> Rule:
        program = get_program(session, who.program_id)
        current = get_rule(session, program.id, rule_id, lock=True)
        if seen and seen != str(current.version):
            raise RuleChangedMeanwhileError(
                f"version {current.version} was saved after you opened version {seen}"
            )
        return update_rule(session, program, rule_id, _changes(typed), actor(who), now)

    console_write(
        request, who, "rule.update", work, target=lambda r: ("rule", r.id), name=values["name"]
    )
    return RedirectResponse(f"/console/rules/{rule_id}?saved=1", status_code=303)


def _changes(typed: RuleForm) -> dict[str, Any]:
    """Every field, blanks as None, so a cleared cap is cleared in the new version."""
    return {
        "definition": typed.definition,
        "status": typed.status,
        "active_from": typed.active_from,
        "active_until": typed.active_until,
    }


def form_page(
    request: Request,
    who: ConsoleIdentity,
    values: dict[str, Any],
    rule: Rule | None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    saved: bool = False,
) -> Response:
    """The rule form (new or saved), with the simulation and back-test under it."""
    zone, now = zone_of(request), now_factory(request)()
    with reading(request) as session:
        program = get_program(session, who.program_id)
        stores = list(
            session.scalars(
                select(Store).where(Store.program_id == program.id).order_by(Store.code)
            )
        )
        ladder = program_tiers(session, program)
        words = words_for(request, session, program.id)
        history = _history(session, rule, words) if rule else []
    preview = read_rule_form(values, zone, words._, rule.id if rule else None)
    context = {
        "rule": rule,
        "v": values,
        "errors": errors or {},
        "sentence": words.sentence(preview.spec) if preview.spec else "",
        "history": history,
        "stores": stores,
        "groups": sorted({g for s in stores for g in s.groups or ()}),
        "ladder": ladder,
        "kinds": KINDS,
        "stacking": STACKING,
        "periods": PERIODS,
        "lines": range(LINES),
        "sim_at": now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "saved": saved,
        "editable": who.can("rules.edit"),
        "fields": FIELDS,
    }
    return render(request, "console/rules_form.html", context, status_code=status)


def _history(session: Session, rule: Rule, words: Words) -> list[dict[str, Any]]:
    out = []
    for v in reversed(versions(session, rule.id)):
        try:
            sentence = words.sentence(parse_rule(v.definition))
        except InvalidRuleError:
            sentence = ""
        out.append({"version": v, "sentence": sentence})
    return out
