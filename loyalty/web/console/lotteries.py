"""Console: points lotteries (cost per draw, prizes with odds and stock, daily limit,
schedule), the audit trail of every draw and a chart of the prizes drawn.

Settings are validated by the API's ``LotteryIn`` / ``PrizeIn`` and saved through
``loyalty.lotteries.setup`` inside ``console_write``; prizes are replaced only when they
changed, so an edit of the name does not reset what was given.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loyalty.api.deps import reading
from loyalty.errors import LoyaltyError, PermissionDeniedError
from loyalty.lotteries.listing import DrawRow, all_draws, draw_count, draws, prizes_drawn
from loyalty.lotteries.models import Lottery
from loyalty.lotteries.queries import lottery_report
from loyalty.lotteries.schemas import LotteryIn, PrizeIn
from loyalty.lotteries.setup import (
    PrizeSpec,
    active_prizes,
    create_lottery,
    get_lottery,
    list_lotteries,
    lottery_json,
    remaining,
    replace_prizes,
    update_lottery,
)
from loyalty.programs.service import get_program
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import console_write, require
from loyalty.web.console.mall import _coupon_templates
from loyalty.web.console.mall_forms import FormReader, local_value, mask_phone, zone_of
from loyalty.web.exports import export_response
from loyalty.web.i18n import N_
from loyalty.web.templating import render, translate

router = APIRouter()
Viewer = Annotated[ConsoleIdentity, Depends(require("mall.view"))]
Editor = Annotated[ConsoleIdentity, Depends(require("mall.edit"))]
LotteryId = Annotated[int, Path(ge=1, le=2**62)]
PRIZE_ROWS = 8
PAGE = 50

STATUS_NAMES = {
    "draft": N_("Draft"),
    "active": N_("Running"),
    "paused": N_("Paused"),
    "ended": N_("Ended"),
}
PRIZE_KINDS = {
    "points": N_("Points"),
    "coupon": N_("Coupon"),
    "gift": N_("Gift"),
    "nothing": N_("Nothing (thanks for playing)"),
}


# --- list ------------------------------------------------------------------------------------


@router.get("/console/lotteries")
def lotteries_page(request: Request, who: Viewer) -> Response:
    with reading(request) as session:
        lotteries = list_lotteries(session, who.program_id, 0, 500)
        report = lottery_report(session, get_program(session, who.program_id))
    stats = {row["lottery_id"]: row for row in report["lotteries"]}
    context = {"lotteries": lotteries, "stats": stats, "status_names": STATUS_NAMES}
    return render(request, "console/lotteries.html", context)


# --- create and edit -------------------------------------------------------------------------


@router.get("/console/lotteries/new")
def new_lottery(request: Request, who: Editor) -> Response:
    values = {"status": "draft", "cost_points": "100", "prizes": []}
    return _form(request, who, None, values, {})


@router.get("/console/lotteries/{lottery_id}")
def lottery_page(request: Request, who: Viewer, lottery_id: LotteryId) -> Response:
    if request.query_params.get("format"):
        return _export(request, who, lottery_id, request.query_params["format"])
    with reading(request) as session:
        lottery = get_lottery(session, who.program_id, lottery_id)
        values = _values_of(request, lottery, session)
    return _form(request, who, lottery_id, values, {})


def _values_of(request: Request, lottery: Lottery, session: Session) -> dict[str, Any]:
    zone = zone_of(request)
    prizes = [
        {
            "name": p.name,
            "kind": p.kind,
            "points": p.points,
            "template_id": p.template_id,
            "description": p.description,
            "weight": p.weight,
            "stock": remaining(p),
            "unit_cost": ""
            if p.unit_cost is None
            else f"{p.unit_cost // 100}.{p.unit_cost % 100:02d}",
        }
        for p in active_prizes(session, lottery.id)
    ]
    return {
        "name": lottery.name,
        "name_en": lottery.name_en or "",
        "cost_points": lottery.cost_points,
        "daily_limit": lottery.daily_limit or "",
        "status": lottery.status,
        "starts_at": local_value(lottery.starts_at, zone),
        "ends_at": local_value(lottery.ends_at, zone),
        "prizes": prizes,
    }


def _form(
    request: Request,
    who: ConsoleIdentity,
    lottery_id: int | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    with reading(request) as session:
        lottery = get_lottery(session, who.program_id, lottery_id) if lottery_id else None
        context: dict[str, Any] = {
            "lottery": lottery,
            "templates": [(t.id, t.name) for t in _coupon_templates(session, who.program_id)],
        }
        if lottery is not None:
            context |= _trail(request, session, lottery)
    rows = list(values.get("prizes") or [])
    rows += [{}] * max(PRIZE_ROWS - len(rows), 2)
    context |= {
        "values": values,
        "errors": errors,
        "prize_rows": rows,
        "status_names": STATUS_NAMES,
        "prize_kinds": PRIZE_KINDS,
    }
    return render(request, "console/lotteries_form.html", context, status_code=status)


def _trail(request: Request, session: Session, lottery: Lottery) -> dict[str, Any]:
    """The draw audit trail (newest first, paged), the odds now and the prizes drawn."""
    q = request.query_params
    before = int(q["before"]) if q.get("before", "").isdigit() else None
    rows = draws(session, lottery.id, PAGE, before)
    drawn = prizes_drawn(session, lottery.id)
    return {
        "draws": rows,
        "draw_total": draw_count(session, lottery.id),
        "next_before": rows[-1].draw.id if len(rows) == PAGE else None,
        "chart": _chart(drawn, translate(request, "Times drawn")) if drawn else None,
        "odds": lottery_json(lottery, active_prizes(session, lottery.id))["prizes"],
        "mask_phone": mask_phone,
    }


def _chart(drawn: list[tuple[str, int]], label: str) -> dict[str, Any]:
    return {
        "grid": {"left": 8, "right": 24, "top": 8, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "value", "minInterval": 1},
        "yAxis": {"type": "category", "data": [name for name, _ in drawn], "inverse": True},
        "series": [
            {
                "type": "bar",
                "name": label,
                "data": [n for _, n in drawn],
                "itemStyle": {"color": "#b4441b"},
                "label": {"show": True, "position": "right"},
            }
        ],
    }


@router.post("/console/lotteries")
async def create(request: Request, who: Editor) -> Response:
    form = await request.form()
    return await run_in_threadpool(_save, request, who, None, form)


@router.post("/console/lotteries/{lottery_id}")
async def update(request: Request, who: Editor, lottery_id: LotteryId) -> Response:
    form = await request.form()
    return await run_in_threadpool(_save, request, who, lottery_id, form)


def _save(request: Request, who: ConsoleIdentity, lottery_id: int | None, form: Any) -> Response:
    reader = FormReader(form, zone_of(request))
    fields = _read_lottery(reader)
    prizes = _read_prizes(reader)
    echo = {**dict(form), "prizes": _echo_prizes(form)}
    if reader.errors:
        return _form(request, who, lottery_id, echo, reader.errors, 422)

    def work(session: Session, now: datetime) -> Lottery:
        if lottery_id is None:
            lottery = create_lottery(session, who.program_id, fields, now)
        else:
            lottery = update_lottery(
                session, get_lottery(session, who.program_id, lottery_id), fields, now
            )
        if _prizes_changed(session, lottery, prizes):
            replace_prizes(session, lottery, prizes, now)
        session.flush()
        return lottery

    try:
        saved = console_write(
            request, who, "lottery.save", work, lambda lot: ("lottery", lot.id), name=fields["name"]
        )
    except LoyaltyError as exc:
        errors = {"_form": translate(request, exc.title) + ": " + exc.detail}
        return _form(request, who, lottery_id, echo, errors, exc.status)
    return RedirectResponse(f"/console/lotteries/{saved.id}?saved=1", status_code=303)


def _read_lottery(f: FormReader) -> dict[str, Any]:
    fields = {
        "name": f.text("name", 120, required=True),
        "name_en": f.text("name_en", 120),
        "cost_points": f.integer("cost_points", 0, 1_000_000_000, required=True),
        "starts_at": f.moment("starts_at", required=True),
        "ends_at": f.moment("ends_at", required=True),
        "daily_limit": f.integer("daily_limit", 1, 1000),
        "status": f.choice("status", tuple(STATUS_NAMES), "draft"),
    }
    if f.errors:
        return fields
    try:
        return LotteryIn.model_validate(fields).model_dump()
    except ValidationError:
        f.fail("ends_at", N_("The end must be after the start"))
        return fields


def _read_prizes(f: FormReader) -> list[PrizeSpec]:
    """The filled-in prize rows (a row without a name is left out)."""
    specs: list[PrizeSpec] = []
    for i, row in enumerate(_echo_prizes(f.form)):
        if not row.get("name"):
            continue
        spec = _read_prize(f, i, row)
        if spec is not None:
            specs.append(spec)
    if not specs and "prizes" not in f.errors:
        f.fail("prizes", N_("Add at least one prize"))
    return specs


def _read_prize(f: FormReader, i: int, row: dict[str, str]) -> PrizeSpec | None:
    sub = FormReader(row, f.zone)
    data = {
        "name": sub.text("name", 120, required=True),
        "kind": sub.choice("kind", tuple(PRIZE_KINDS), "points"),
        "points": sub.integer("points", 1, 1_000_000_000),
        "template_id": sub.integer("template_id", 1, 2**62),
        "description": sub.text("description", 255),
        "weight": sub.integer("weight", 1, 1_000_000_000, required=True),
        "stock": sub.integer("stock", 0, 1_000_000_000),
        "unit_cost": sub.fen("unit_cost"),
    }
    if data["kind"] != "points":
        data["points"] = None
    if data["kind"] != "coupon":
        data["template_id"] = None
    if not sub.errors:
        try:
            return PrizeIn.model_validate(data).spec()
        except ValidationError:
            sub.fail("kind", N_("A points prize needs points; a coupon prize needs a coupon"))
    for name, message in sub.errors.items():
        f.fail(f"prize_{i}_{name}", message)
    f.fail("prizes", N_("Check the marked prizes"))
    return None


def _echo_prizes(form: Any) -> list[dict[str, str]]:
    """The prize rows as typed: ``prize_name``, ``prize_kind``... repeated once per row."""
    keys = ("name", "kind", "points", "template_id", "description", "weight", "stock", "unit_cost")
    getlist = getattr(form, "getlist", None)
    if getlist is None:
        return []
    columns = {k: [str(v) for v in getlist(f"prize_{k}")] for k in keys}
    count = max((len(v) for v in columns.values()), default=0)
    return [
        {k: (columns[k][i].strip() if i < len(columns[k]) else "") for k in keys}
        for i in range(min(count, 50))
    ]


def _prizes_changed(session: Session, lottery: Lottery, specs: list[PrizeSpec]) -> bool:
    current = [
        PrizeSpec(
            p.name,
            p.kind,
            p.weight,
            p.points,
            p.template_id,
            p.description,
            remaining(p),
            p.unit_cost,
        )
        for p in active_prizes(session, lottery.id)
    ]
    return current != specs


# --- the audit trail export ------------------------------------------------------------------


def _export(request: Request, who: ConsoleIdentity, lottery_id: int, fmt: str) -> Response:
    if not who.can("export"):
        raise PermissionDeniedError("this role may not export")
    with reading(request) as session:
        get_lottery(session, who.program_id, lottery_id)

    header = [N_("Draw no."), N_("Drawn at"), N_("Member no."), N_("Member"), N_("Mobile")]
    header += [N_("Points spent"), N_("Prize"), N_("Points won"), N_("Coupon code")]
    header += [N_("Random number"), N_("Total weight")]
    header = [translate(request, h) for h in header]

    def body() -> Iterator[list[Any]]:
        with reading(request) as session:
            for row in all_draws(session, lottery_id):
                yield _export_row(row)

    return export_response(fmt, f"lottery-{lottery_id}-draws", header, body())


def _export_row(row: DrawRow) -> list[Any]:
    d = row.draw
    return [
        d.draw_id,
        d.drawn_at,
        row.member_no,
        row.member_name,
        mask_phone(row.member_phone),
        d.cost_points,
        row.prize_name,
        d.points_won,
        row.coupon_code,
        d.random_value,
        d.total_weight,
    ]
