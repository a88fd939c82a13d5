"""Console: the dashboard. Points issued, redeemed and expired, what members still hold, who
is active, tiers and the stores that issue most, for a period and the stores one may see.

The figures come from the daily rollups (``loyalty.analytics.queries``), never from a scan of
the journal. A store-bound manager sees only their own stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.analytics.queries import MAX_DAYS, Dashboard, Period, dashboard, store_activity
from loyalty.api.deps import now_factory, reading
from loyalty.errors import PermissionDeniedError
from loyalty.programs.models import Program
from loyalty.programs.service import get_program
from loyalty.stores.models import Store
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import require_store, signed_in
from loyalty.web.exports import export_response
from loyalty.web.i18n import N_
from loyalty.web.templating import render, request_locale, translate

router = APIRouter()
DEFAULT_DAYS = 30
COLOURS = {"issued": "#b4441b", "redeemed": "#1d6b3a", "expired": "#8a8f98"}
TIER_COLOURS = ["#e0a458", "#b4441b", "#5b6270", "#1d6b3a", "#8f3514", "#d9c7b8"]
NO_TIER_COLOUR = "#c9ccd1"
EXPORT_COLUMNS = (
    N_("Store code"),
    N_("Store"),
    N_("Points issued"),
    N_("Points redeemed"),
    N_("Points expired"),
    N_("Earning transactions"),
    N_("Active members"),
)


@dataclass(frozen=True)
class Filters:
    """What the form asked for, checked: the period, the store (code) and any complaint."""

    period: Period
    store: str
    error: str | None = None

    def query(self) -> dict[str, str]:
        wanted = {"from": self.period.first.isoformat(), "to": self.period.last.isoformat()}
        return wanted | ({"store": self.store} if self.store else {})


@router.get("/console")
def home(
    request: Request,
    who: Annotated[ConsoleIdentity, Depends(signed_in)],
    since: Annotated[str, Query(alias="from", max_length=10)] = "",
    until: Annotated[str, Query(alias="to", max_length=10)] = "",
    store: Annotated[str, Query(max_length=32)] = "",
    format: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    if not who.can("dashboard.view"):
        return RedirectResponse("/console/counter", status_code=303)
    if format and not who.can("export"):
        raise PermissionDeniedError(f"role {who.role!r} may not export")
    today = now_factory(request)().astimezone(ZoneInfo(request.state.timezone)).date()
    filters = read_filters(since, until, store.strip(), today)
    active: dict[int, int] = {}
    with reading(request) as session:
        program = get_program(session, who.program_id)
        choices = visible_stores(session, who)
        scope = store_scope(who, filters.store, choices)
        board = dashboard(session, program, filters.period, scope)
        if format:
            active = store_activity(session, program, filters.period, scope)
    if format:
        return _export(request, format, board, active)
    return _page(request, program, board, filters, choices)


# --- the form ----------------------------------------------------------------------------------


def read_filters(since: str, until: str, store: str, today: date) -> Filters:
    """The period asked for (default: the last 30 days), or the default and why not."""
    default = Period.ending(today, DEFAULT_DAYS)
    try:
        first = date.fromisoformat(since) if since else None
        last = date.fromisoformat(until) if until else None
    except ValueError:
        return Filters(default, store, N_("Dates look like 2026-03-31."))
    last = last or max(first or today, today)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        return Filters(default, store, N_("The period must start before it ends."))
    if (last - first).days >= MAX_DAYS:
        return Filters(default, store, N_("Choose a period of at most two years."))
    return Filters(Period(first, last), store)


def visible_stores(session: Session, who: ConsoleIdentity) -> list[Store]:
    """The stores the user may pick: all of the program's, or a manager's own."""
    stmt = select(Store).where(Store.program_id == who.program_id).order_by(Store.code)
    if who.store_bound:
        stmt = stmt.where(Store.id.in_(sorted(who.store_ids)))
    return list(session.scalars(stmt))


def store_scope(who: ConsoleIdentity, code: str, choices: list[Store]) -> frozenset[int] | None:
    """Whose figures: one store, a manager's stores, or (``None``) the whole chain."""
    if code:
        found = next((s for s in choices if s.code == code), None)
        require_store(who, found.id if found else None)
        if found is None:
            raise PermissionDeniedError(f"store {code!r} is not one you can see")
        return frozenset({found.id})
    return frozenset(who.store_ids) if who.store_bound else None


# --- the page ----------------------------------------------------------------------------------


def _page(
    request: Request, program: Program, board: Dashboard, filters: Filters, choices: list[Store]
) -> Response:
    query = urlencode(filters.query())
    context: dict[str, Any] = {
        "board": board,
        "program": program,
        "point_value": format(program.point_value.normalize(), "f"),
        "filters": filters,
        "stores": choices,
        "query": query,
        "points_chart": points_chart(request, board),
        "tier_chart": tier_chart(request, board),
        "tier_name": lambda share: tier_label(request, share),
    }
    htmx = request.headers.get("hx-request") == "true"
    template = "console/dashboard_board.html" if htmx else "console/dashboard.html"
    return render(request, template, context, status_code=422 if filters.error else 200)


def points_chart(request: Request, board: Dashboard) -> dict[str, Any]:
    """An ECharts option: points issued (bars), redeemed and expired (lines) per day."""
    names = {
        "issued": translate(request, "Points issued"),
        "redeemed": translate(request, "Points redeemed"),
        "expired": translate(request, "Points expired"),
    }
    series = [
        {
            "name": names[key],
            "type": "bar" if key == "issued" else "line",
            "data": [getattr(d, key) for d in board.days],
            "itemStyle": {"color": COLOURS[key]},
            "showSymbol": len(board.days) <= 45,
            "symbolSize": 4,
        }
        for key in names
    ]
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [d.day.strftime("%m-%d") for d in board.days]},
        "yAxis": {"type": "value"},
        "series": series,
    }


def tier_label(request: Request, share: Any) -> str:
    if share.code is None:
        return translate(request, "No tier")
    english = request_locale(request) == "en" and share.name_en
    return str(share.name_en if english else share.name or share.code)


def tier_chart(request: Request, board: Dashboard) -> dict[str, Any]:
    """An ECharts option: a ring of members per tier."""
    data = [
        {"name": tier_label(request, t), "value": t.members}
        | ({"itemStyle": {"color": NO_TIER_COLOUR}} if t.code is None else {})
        for t in board.tiers
    ]
    ring = {"type": "pie", "radius": ["42%", "72%"], "top": -24, "label": {"show": False}}
    return {
        "tooltip": {"trigger": "item", "formatter": "{b}: {c} ({d}%)"},
        "legend": {"bottom": 0, "type": "scroll"},
        "color": TIER_COLOURS,
        "series": [ring | {"data": data}],
    }


# --- the export --------------------------------------------------------------------------------


def _export(request: Request, fmt: str, board: Dashboard, active: dict[int, int]) -> Response:
    """Every store in scope with its figures for the period, most points issued first."""
    header = [translate(request, message) for message in EXPORT_COLUMNS]
    rows = (
        [s.code, s.name, s.issued, s.redeemed, s.expired, s.earn_entries, active.get(s.store_id, 0)]
        for s in board.store_figures
    )
    period = f"{board.period.first:%Y%m%d}-{board.period.last:%Y%m%d}"
    return export_response(fmt, f"stores-{period}", header, rows)
