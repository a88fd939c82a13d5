"""Console: try a rule before trusting it: a sample order's breakdown, and a back-test of what
it would have cost over a past period of real orders. Both work on the form as typed (an
unsaved draft) or on the saved rule, and write nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from loyalty.api.deps import now_factory, reading
from loyalty.errors import InvalidRequestError
from loyalty.programs.service import get_program
from loyalty.rules.backtest import backtest
from loyalty.rules.engine import OrderLine
from loyalty.rules.service import get_rule, spec_of
from loyalty.rules.spec import RuleSpec
from loyalty.rules.trial import SampleOrder, Trial, try_rule
from loyalty.stores.models import Store
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import require
from loyalty.web.console.rule_form import SEPARATORS, FieldReader, form_values, read_rule_form
from loyalty.web.i18n import N_, Gettext, gettext_for
from loyalty.web.templating import render, request_locale

router = APIRouter()
Viewer = Annotated[ConsoleIdentity, Depends(require("rules.view"))]
PERIODS = {"last30": N_("Last 30 days"), "last_month": N_("Previous calendar month")}
LINES = 3
BRAND = "#b4441b"


def zone_of(request: Request) -> ZoneInfo:
    return ZoneInfo(getattr(request.state, "timezone", "Asia/Shanghai"))


def gettext_of(request: Request) -> Gettext:
    return gettext_for(request_locale(request))


@dataclass(frozen=True)
class Draft:
    """The rule to try, or what keeps the form from being a rule."""

    spec: RuleSpec | None
    errors: dict[str, str]


def draft_of(request: Request, session: Session, who: ConsoleIdentity, form: FormData) -> Draft:
    """The rule as typed in the form, or the saved rule when the form is not sent."""
    raw_id = str(form.get("rule_id") or "")
    rule_id = int(raw_id) if raw_id.isdigit() and 0 < int(raw_id) < 2**62 else None
    if form.get("kind") is None:
        if rule_id is None:
            raise InvalidRequestError("send the rule's form or its id")
        return Draft(spec_of(get_rule(session, who.program_id, rule_id)), {})
    typed = read_rule_form(form_values(form), zone_of(request), gettext_of(request), rule_id)
    return Draft(typed.spec if typed.ok else None, typed.errors)


# --- simulation --------------------------------------------------------------------------------


@router.post("/console/rules/simulate", include_in_schema=False)
async def simulate(request: Request, who: Viewer) -> Response:
    """The breakdown of a sample order with the rule, award by award."""
    form = await request.form()
    return await run_in_threadpool(_simulate, request, who, form)


def _simulate(request: Request, who: ConsoleIdentity, form: FormData) -> Response:
    sample, errors = sample_order(
        form, zone_of(request), now_factory(request)(), gettext_of(request)
    )
    with reading(request) as session:
        draft = draft_of(request, session, who, form)
        trial = None
        if draft.spec is not None and sample is not None:
            program = get_program(session, who.program_id)
            trial = try_rule(session, program, draft.spec, sample)
    context = {"trial": trial, "draft": draft, "sample_errors": errors, "rows": _rows(trial, draft)}
    status = 200 if trial is not None else 422
    return render(request, "console/rules_simulation.html", context, status_code=status)


def _rows(trial: Trial | None, draft: Draft) -> list[dict[str, Any]]:
    if trial is None or draft.spec is None:
        return []
    return [
        {
            "award": a,
            "draft": a.rule_id == draft.spec.id and a.rule_version is not None,
        }
        for a in trial.with_rule.awards
    ]


def sample_order(
    form: FormData, zone: ZoneInfo, now: datetime, gettext: Gettext
) -> tuple[SampleOrder | None, dict[str, str]]:
    """The made-up order of the simulation form; amounts in yuan, time in local time."""
    fields = ("sim_amount", "sim_at", "sim_store", "sim_tier", "sim_payment", "sim_segments")
    reader = FieldReader({k: str(form.get(k) or "").strip() for k in fields}, gettext)
    amount = reader.fen("sim_amount")
    at = reader.moment("sim_at", zone) or now
    lines = _lines(form, reader)
    if amount is None and "sim_amount" not in reader.errors:
        amount = sum(line.amount for line in lines) or None
        if amount is None:
            reader.fail("sim_amount", N_("Enter the order amount in yuan"))
    if reader.errors or amount is None:
        return None, reader.errors
    return SampleOrder(
        amount=amount,
        occurred_at=at,
        store_code=reader.values["sim_store"] or None,
        payment_method=reader.values["sim_payment"] or None,
        tier_code=reader.values["sim_tier"] or None,
        first_order=form.get("sim_first") == "yes",
        birthday=at.date() if form.get("sim_birthday") == "yes" else None,
        segments=frozenset(reader.typed_list("sim_segments")),
        lines=lines,
    ), {}


def _lines(form: FormData, reader: FieldReader) -> tuple[OrderLine, ...]:
    columns = [form.getlist(k) for k in ("line_sku", "line_category", "line_amount", "line_tags")]
    out = []
    for index, (sku, category, amount, tags) in enumerate(zip(*columns, strict=False)):
        name = f"line_amount_{index}"
        reader.values[name] = str(amount).strip()
        fen = reader.fen(name)
        if str(sku).strip() and fen is not None:
            out.append(
                OrderLine(
                    sku=str(sku).strip(),
                    quantity=1,
                    amount=fen,
                    category=str(category).strip() or None,
                    tags=tuple(x for x in SEPARATORS.split(str(tags)) if x),
                )
            )
    return tuple(out)


# --- back-test ---------------------------------------------------------------------------------


@router.post("/console/rules/backtest", include_in_schema=False)
async def backtest_rule(request: Request, who: Viewer) -> Response:
    """What the rule would have cost over the last 30 days or the previous month."""
    form = await request.form()
    return await run_in_threadpool(_backtest, request, who, form)


def _backtest(request: Request, who: ConsoleIdentity, form: FormData) -> Response:
    choice = str(form.get("period") or "")
    choice = choice if choice in PERIODS else "last30"
    zone = zone_of(request)
    start, end = period(choice, now_factory(request)(), zone)
    with reading(request) as session:
        draft = draft_of(request, session, who, form)
        if draft.spec is None:
            return render(request, "console/rules_backtest.html", {"draft": draft}, status_code=422)
        report = backtest(session, get_program(session, who.program_id), draft.spec, start, end)
        stores = select(Store.code, Store.name).where(Store.program_id == who.program_id)
        names = {code: name for code, name in session.execute(stores)}
    context = {
        "draft": draft,
        "report": report,
        "choice": choice,
        "start": start,
        "end": end,
        "last_day": (end - timedelta(microseconds=1)).astimezone(zone).date(),
        "stores": names,
        "chart": chart_option(report, start, end, zone, gettext_of(request)),
    }
    return render(request, "console/rules_backtest.html", context)


def period(choice: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC: the 30 days before ``now``, or the previous calendar month."""
    if choice != "last_month":
        return now - timedelta(days=30), now
    first = now.astimezone(zone).date().replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    return _midnight(previous, zone), _midnight(first, zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def chart_option(
    report: dict[str, Any], start: datetime, end: datetime, zone: ZoneInfo, _: Gettext
) -> dict[str, Any]:
    """Extra points by local day, every day of the period shown (quiet days as 0)."""
    by_day = {row["day"]: row["extra_points"] for row in report["by_day"]}
    day, last = start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone)
    days = []
    while day <= last.date():
        days.append(day)
        day += timedelta(days=1)
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 56, "right": 16, "top": 32, "bottom": 32},
        "xAxis": {"type": "category", "data": [d.strftime("%m-%d") for d in days]},
        "yAxis": {"type": "value", "name": _("Extra points")},
        "series": [
            {
                "type": "bar",
                "name": _("Extra points"),
                "data": [by_day.get(d.isoformat(), 0) for d in days],
                "itemStyle": {"color": BRAND},
            }
        ],
    }
