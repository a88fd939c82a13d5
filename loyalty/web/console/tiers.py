"""Console: the tier ladder (thresholds, windows, benefits, members in each) and a form to add
or change a tier, checked like the API checks it and audited as ``tier.save``; deleting a tier
nobody holds is audited as ``tier.delete``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from loyalty.api.deps import reading
from loyalty.errors import LoyaltyError, PermissionDeniedError
from loyalty.programs.models import Program
from loyalty.programs.service import get_program
from loyalty.rules.engine import factor_text
from loyalty.tiers.counts import members_per_tier
from loyalty.tiers.endpoints import TierIn
from loyalty.tiers.models import Tier
from loyalty.tiers.service import (
    BASE,
    InvalidTierError,
    TierCodeTakenError,
    TierInUseByRewardsError,
    TierInUseByRulesError,
    TierInUseError,
    TierNotFoundError,
    TierSpec,
    delete_tier,
    program_tiers,
    save_tier,
)
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import console_write, require
from loyalty.web.console.rule_form import FieldReader
from loyalty.web.console.rule_trials import gettext_of
from loyalty.web.exports import export_response
from loyalty.web.i18n import N_, Gettext
from loyalty.web.templating import render

router = APIRouter()
Viewer = Annotated[ConsoleIdentity, Depends(require("rules.view"))]
Editor = Annotated[ConsoleIdentity, Depends(require("rules.edit"))]
TierCode = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-.]+$")]

METRICS = {"spend": N_("Spend"), "points": N_("Points earned"), "orders": N_("Orders")}
TIER_FIELDS = (
    "code",
    "name",
    "name_en",
    "rank",
    "metric",
    "threshold",
    "window_days",
    "multiplier",
    "discount_rate",
    "perks",
)
TIER_MESSAGES = {
    "code": N_("Use 1 to 32 letters, digits, dots, - or _"),
    "name": N_("Give the tier a name (1 to 40 characters)"),
    "name_en": N_("At most 40 characters"),
    "rank": N_("Enter a rank from 1 to 100, not used by another tier (1 is the lowest)"),
    "metric": N_("Choose what members qualify on"),
    "threshold": N_("Enter what members must reach"),
    "window_days": N_("Enter a number of days from 1 to 3650"),
    "multiplier": N_("Enter a multiple from 1 to 10, e.g. 1.2"),
    "discount_rate": N_("Enter a price rate from 0.01 to 1, e.g. 0.95 for 5% off"),
    "perks": N_("At most 20 perks of 1 to 40 characters"),
}
DOWNGRADE = {
    "requalify": N_("Each evaluation keeps the highest tier the member still qualifies for"),
    "inactive": N_("Back to the base tier after %(days)s days without a purchase"),
    "never": N_("Members are never downgraded"),
}
NEW_TIER = {
    **dict.fromkeys(TIER_FIELDS, ""),
    "metric": "spend",
    "window_days": "365",
    "multiplier": "1",
}


# --- the ladder --------------------------------------------------------------------------------


@router.get("/console/tiers", include_in_schema=False)
def tiers_page(
    request: Request,
    who: Viewer,
    fmt: Annotated[str | None, Query(alias="format", max_length=8)] = None,
    deleted: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    with reading(request) as session:
        program = get_program(session, who.program_id)
        ladder = program_tiers(session, program)
        counts = members_per_tier(session, program.id)
        policy = downgrade_policy(program, gettext_of(request))
    _ = gettext_of(request)
    if fmt is not None:
        if not who.can("export"):
            raise PermissionDeniedError("exports are not allowed for this role")
        return export_response(fmt, "tiers", _header(_), (_cells(t, counts, _) for t in ladder))
    context = {
        "ladder": ladder,
        "counts": counts,
        "policy": policy,
        "metrics": METRICS,
        "described": {t.code: describe_tier(t, _) for t in ladder},
        "deleted": deleted,
    }
    return render(request, "console/tiers.html", context)


def describe_tier(t: TierSpec, _: Gettext) -> dict[str, str]:
    """A tier's threshold, multiple and discount as the ladder shows them."""
    if t.metric == "spend":
        threshold = f"¥{t.threshold // 100:,}" + (
            f".{t.threshold % 100:02d}" if t.threshold % 100 else ""
        )
    elif t.metric == "points":
        threshold = _("%(n)s points", n=f"{t.threshold:,}")
    else:
        threshold = _("%(n)s orders", n=f"{t.threshold:,}")
    return {
        "threshold": threshold,
        "window": _("%(days)s days", days=t.window_days),
        "multiplier": f"×{factor_text(t.multiplier)}",
        "discount": discount_text(t.discount_rate, _),
    }


def discount_text(rate: str | None, _: Gettext) -> str:
    """``"0.95"`` as "9.5折" in Chinese and "5% off" in English."""
    if not rate or Decimal(rate) >= 1:
        return ""
    value = Decimal(rate)
    off = ((1 - value) * 100).normalize()
    zhe = (value * 10).normalize()
    return _("%(off)s%% off", off=format(off, "f"), zhe=format(zhe, "f"))


def downgrade_policy(program: Program, _: Gettext) -> list[str]:
    out = [
        _(
            DOWNGRADE.get(program.tier_downgrade, program.tier_downgrade),
            days=program.tier_inactive_days,
        )
    ]
    if program.tier_protection_days:
        out.append(
            _("No downgrade for %(days)s days after an upgrade", days=program.tier_protection_days)
        )
    return out


def _header(_: Gettext) -> list[str]:
    return [
        _("Rank"),
        _("Tier code"),
        _("Name"),
        _("Qualifies on"),
        _("Threshold"),
        _("Window (days)"),
        _("Earn multiple"),
        _("Discount rate"),
        _("Perks"),
        _("Members"),
    ]


def _cells(t: TierSpec, counts: dict[str, int], _: Gettext) -> list[Any]:
    return [
        t.rank,
        t.code,
        t.name,
        _(METRICS.get(t.metric, t.metric)),
        t.threshold,
        t.window_days,
        factor_text(t.multiplier),
        t.discount_rate or "",
        "、".join(str(p) for p in t.perks),
        counts.get(t.code, 0),
    ]


# --- the form ----------------------------------------------------------------------------------


@router.get("/console/tiers/new", include_in_schema=False)
def new_tier_page(request: Request, who: Editor) -> Response:
    return tier_form(request, who, dict(NEW_TIER), None)


@router.post("/console/tiers/new", include_in_schema=False)
async def create_tier(request: Request, who: Editor) -> Response:
    form = await request.form()
    return await run_in_threadpool(_save, request, who, _values(form), None)


@router.post("/console/tiers/check", include_in_schema=False)
async def check_tier(request: Request, who: Editor) -> Response:
    """Checked as the operator types: each field's problem, or the tier in words."""
    values = {**_values(await request.form()), "code": "x"}
    _, errors = read_tier_form(values, gettext_of(request))
    context = {"errors": errors, "v": values}
    return render(request, "console/tiers_check.html", context, status_code=422 if errors else 200)


@router.get("/console/tiers/{code}", include_in_schema=False)
def tier_page(request: Request, who: Viewer, code: TierCode, saved: bool = False) -> Response:
    with reading(request) as session:
        tier = _tier(session, who.program_id, code)
    return tier_form(request, who, _values_of(tier), tier, saved=saved)


@router.post("/console/tiers/{code}", include_in_schema=False)
async def change_tier(request: Request, who: Editor, code: TierCode) -> Response:
    form = await request.form()
    with reading(request) as session:
        tier = _tier(session, who.program_id, code)
    values = {**_values(form), "code": tier.code}
    return await run_in_threadpool(_save, request, who, values, tier)


@router.post("/console/tiers/{code}/delete", include_in_schema=False)
def remove_tier(request: Request, who: Editor, code: TierCode) -> Response:
    """Delete a tier nobody holds and no rule names; otherwise say why on the tier's page."""
    with reading(request) as session:
        tier = _tier(session, who.program_id, code)

    def work(session: Session, now: datetime) -> str:
        return delete_tier(session, get_program(session, who.program_id), code).code

    try:
        console_write(request, who, "tier.delete", work, target=lambda c: ("tier", c))
    except LoyaltyError as exc:
        refusal = delete_refusal(exc, gettext_of(request))
        return tier_form(request, who, _values_of(tier), tier, status=exc.status, refusal=refusal)
    return RedirectResponse(f"/console/tiers?deleted={code}", status_code=303)


def delete_refusal(exc: LoyaltyError, _: Gettext) -> str:
    """Why a tier cannot be deleted, in the operator's words."""
    if isinstance(exc, TierInUseError):
        return _(
            "%(count)s members hold this tier; it can be deleted once no member holds it.",
            count=exc.extra.get("members", 0),
        )
    if isinstance(exc, TierInUseByRulesError):
        return _(
            "Earning rules name this tier in their conditions: %(rules)s. "
            "Take the tier out of those rules first.",
            rules=_names(exc.extra.get("rules", ())),
        )
    if isinstance(exc, TierInUseByRewardsError):
        return _(
            "Points-mall rewards are shown to this tier: %(rewards)s. "
            "Change who may see them first.",
            rewards=_names(exc.extra.get("rewards", ())),
        )
    return _(exc.title)


def _names(items: Iterable[dict[str, object]]) -> str:
    return "、".join(str(r["name"]) for r in items)


def _tier(session: Session, program_id: int, code: str) -> Tier:
    tier = session.scalar(select(Tier).where(Tier.program_id == program_id, Tier.code == code))
    if tier is None:
        raise TierNotFoundError(f"tier {code!r} does not exist")
    return tier


def _values(form: FormData) -> dict[str, str]:
    return {name: str(form.get(name) or "").strip() for name in TIER_FIELDS}


def _values_of(tier: Tier) -> dict[str, str]:
    threshold = str(tier.threshold)
    if tier.metric == "spend":
        threshold = f"{tier.threshold // 100}" + (
            f".{tier.threshold % 100:02d}" if tier.threshold % 100 else ""
        )
    return {
        "code": tier.code,
        "name": tier.name,
        "name_en": tier.name_en or "",
        "rank": str(tier.rank),
        "metric": tier.metric,
        "threshold": threshold,
        "window_days": str(tier.window_days),
        "multiplier": tier.multiplier,
        "discount_rate": tier.discount_rate or "",
        "perks": "\n".join(str(p) for p in tier.perks or ()),
    }


def read_tier_form(values: dict[str, str], _: Gettext) -> tuple[dict[str, Any], dict[str, str]]:
    """The tier as the API takes it (threshold in fen for spend), or a message per field."""
    reader = FieldReader(dict(values), _)
    if values["metric"] == "spend":
        threshold = reader.fen("threshold")
    else:
        threshold = reader.integer("threshold", 0, 10**12)
    data: dict[str, Any] = {
        "name": values["name"],
        "name_en": values["name_en"] or None,
        "rank": _whole(values["rank"]),
        "metric": values["metric"],
        "threshold": threshold,
        "window_days": _whole(values["window_days"]),
        "multiplier": values["multiplier"] or "1",
        "discount_rate": values["discount_rate"] or None,
        "perks": [p.strip() for p in values["perks"].replace("，", "\n").splitlines() if p.strip()],
    }
    errors = dict(reader.errors)
    try:
        body = TierIn.model_validate(data).model_dump()
    except ValidationError as exc:
        for problem in exc.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "name"
            errors.setdefault(name, tier_message(name, _))
        body = {}
    if any(len(p) > 40 for p in data["perks"]):
        errors.setdefault("perks", tier_message("perks", _))
    _check_decimals(data, errors, _)
    return body, errors


def tier_message(name: str, _: Gettext, fallback: str | None = None) -> str:
    """The message for a tier field; a taken code says so in the error's own words."""
    message = fallback if name == "code" and fallback else TIER_MESSAGES.get(name)
    text = message or fallback or TIER_MESSAGES["name"]
    return _(text)


def _whole(raw: str) -> int | str:
    return int(raw) if raw.lstrip("-").isdigit() and len(raw) < 12 else raw


def _check_decimals(data: dict[str, Any], errors: dict[str, str], _: Gettext) -> None:
    """Multiples and rates must be plain decimals (the service refuses "abc" with a 422 too,
    but only one at a time)."""
    bounds = {
        "multiplier": (Decimal(1), Decimal(10)),
        "discount_rate": (Decimal("0.01"), Decimal(1)),
    }
    for name, (lo, hi) in bounds.items():
        if data[name] is None:
            continue
        try:
            ok = lo <= Decimal(data[name]) <= hi
        except InvalidOperation:
            ok = False
        if not ok:
            errors.setdefault(name, tier_message(name, _))


def _save(
    request: Request, who: ConsoleIdentity, values: dict[str, str], tier: Tier | None
) -> Response:
    _ = gettext_of(request)
    body, errors = read_tier_form(values, _)
    if tier is None and not _code_ok(values["code"]):
        errors.setdefault("code", tier_message("code", _))
    if errors:
        return tier_form(request, who, values, tier, errors, 422)

    def work(session: Session, now: datetime) -> str:
        program = get_program(session, who.program_id)
        if tier is None and _exists(session, program.id, values["code"]):
            raise TierCodeTakenError(f"tier {values['code']!r} already exists")
        return save_tier(session, program, {"code": values["code"], **body}, now).code

    try:
        code = console_write(request, who, "tier.save", work, target=lambda c: ("tier", c), **body)
    except (InvalidTierError, TierCodeTakenError) as exc:
        name = (
            "code" if isinstance(exc, TierCodeTakenError) else str(exc.extra.get("field", "name"))
        )
        errors[name] = tier_message(name, _, exc.title)
        return tier_form(request, who, values, tier, errors, exc.status)
    return RedirectResponse(f"/console/tiers/{code}?saved=1", status_code=303)


def _code_ok(code: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_\-.]{1,32}", code)) and code != BASE


def _exists(session: Session, program_id: int, code: str) -> bool:
    found = session.scalar(select(Tier.id).where(Tier.program_id == program_id, Tier.code == code))
    return found is not None


def tier_form(
    request: Request,
    who: ConsoleIdentity,
    values: dict[str, str],
    tier: Tier | None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    saved: bool = False,
    refusal: str | None = None,
) -> Response:
    with reading(request) as session:
        ladder = program_tiers(session, get_program(session, who.program_id))
    context = {
        "refusal": refusal,
        "tier": tier,
        "v": values,
        "errors": errors or {},
        "ladder": ladder,
        "metrics": METRICS,
        "saved": saved,
        "editable": who.can("rules.edit"),
    }
    return render(request, "console/tiers_form.html", context, status_code=status)
