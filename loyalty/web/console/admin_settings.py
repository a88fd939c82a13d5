"""Console: the program's settings. HQ and analysts read them; only the owner changes them.

The form goes through ``ProgramPatch``, the validation of ``PATCH /v1/program``, and the
change is logged with every changed field's value before and after.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import reading
from loyalty.programs.endpoints import ProgramPatch
from loyalty.programs.models import Program
from loyalty.programs.service import get_program
from loyalty.programs.settings import apply_settings
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.admin_forms import Audited, Errors, audited_write, field_errors, split_list
from loyalty.web.console.deps import require
from loyalty.web.templating import render, translate

router = APIRouter()
Viewer = Annotated[ConsoleIdentity, Depends(require("settings.view"))]
Editor = Annotated[ConsoleIdentity, Depends(require("settings.edit"))]

NUMBERS = (
    "point_value",
    "earn_points",
    "expiry_days",
    "expiry_years",
    "pending_days",
    "hold_ttl_seconds",
    "tier_inactive_days",
    "tier_protection_days",
)
CHOICES = ("name", "timezone", "rounding", "expiry_policy", "tier_downgrade")
LISTS = ("excluded_categories", "excluded_payment_methods")
FORM_FIELDS = (*CHOICES, *NUMBERS, "earn_per_yuan", *LISTS)


@cache
def time_zones() -> list[str]:
    return sorted(available_timezones())


def _values_of(program: Program) -> dict[str, str]:
    values = {f: str(getattr(program, f)) for f in (*CHOICES, *NUMBERS)}
    values["point_value"] = format(program.point_value.normalize(), "f")
    values["earn_per_yuan"] = format((Decimal(program.earn_per_amount) / 100).normalize(), "f")
    for f in LISTS:
        values[f] = ", ".join(getattr(program, f) or [])
    return values


def _page(
    request: Request,
    program: Program,
    values: dict[str, str],
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    context = {
        "program": program,
        "values": values,
        "errors": errors or {},
        "zones": time_zones(),
        "done": request.query_params.get("done", ""),
    }
    return render(request, "console/admin_settings.html", context, status_code=status)


@router.get("/console/settings")
def settings_page(request: Request, who: Viewer) -> Response:
    with reading(request) as session:
        program = get_program(session, who.program_id)
    return _page(request, program, _values_of(program))


def _wanted(request: Request, values: dict[str, str]) -> tuple[dict[str, Any], Errors]:
    """The form's text as the API's fields (blanks left out), with the blanks and bad
    amounts found."""
    blank = {f for f in FORM_FIELDS if f not in LISTS and not values.get(f, "").strip()}
    errors = {f: translate(request, "Required") for f in sorted(blank)}
    wanted: dict[str, Any] = {f: values[f].strip() for f in (*CHOICES, *NUMBERS) if f not in blank}
    wanted.update({f: split_list(values.get(f, "")) for f in LISTS})
    try:
        fen = Decimal(values.get("earn_per_yuan", "")) * 100
        if fen != fen.to_integral_value():
            raise InvalidOperation
        wanted["earn_per_amount"] = int(fen)
    except (InvalidOperation, ValueError, OverflowError):
        errors.setdefault("earn_per_yuan", translate(request, "Enter an amount in yuan, e.g. 1"))
    return wanted, errors


def _validated(request: Request, values: dict[str, str]) -> tuple[dict[str, Any], Errors]:
    """The changes, checked by the API's own schema; every field's problem at once."""
    wanted, errors = _wanted(request, values)
    try:
        patch = ProgramPatch.model_validate(wanted)
    except ValidationError as exc:
        found = field_errors(request, exc)
        if found.pop("earn_per_amount", None):
            found["earn_per_yuan"] = translate(request, "Enter an amount in yuan, e.g. 1")
        if "timezone" in found:
            found["timezone"] = translate(request, "Unknown time zone, e.g. Asia/Shanghai")
        return {}, errors | found
    return patch.model_dump(exclude_none=True), errors


@router.post("/console/settings")
async def save_settings(request: Request, who: Editor) -> Response:
    form = await request.form()
    values = {f: str(form.get(f, ""))[:2000] for f in FORM_FIELDS}
    return await run_in_threadpool(_save, request, who, values)


def _save(request: Request, who: ConsoleIdentity, values: dict[str, str]) -> Response:
    wanted, errors = _validated(request, values)
    if errors:
        with reading(request) as session:
            program = get_program(session, who.program_id)
        return _page(request, program, values, errors, 422)

    def work(session: Session, now: datetime) -> Audited[bool]:
        changes = apply_settings(session, who.program_id, wanted)
        details = {"changes": {f: list(pair) for f, pair in changes.items()}} if changes else None
        return bool(changes), ("program", who.program_id), details

    changed = audited_write(request, who, "settings.save", work)
    return RedirectResponse(f"/console/settings?done={'saved' if changed else 'same'}", 303)
