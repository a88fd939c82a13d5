"""Console: the audit log (owner only): who changed what, newest first, filtered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from loyalty.api.deps import reading
from loyalty.users.audit_log import AuditFilter, audit_choices, audit_entries, audit_page
from loyalty.users.models import AuditEntry
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.admin_forms import check_export
from loyalty.web.console.deps import require
from loyalty.web.exports import export_response
from loyalty.web.i18n import N_
from loyalty.web.templating import render, translate

router = APIRouter()
Owner = Annotated[ConsoleIdentity, Depends(require("audit.view"))]
Short = Annotated[str, Query(max_length=80)]
PAGE = 50

ACTIONS = {
    "user.sign_in": N_("Signed in"),
    "user.password": N_("Changed own password"),
    "user.create": N_("User created"),
    "user.save": N_("User changed"),
    "user.reset_password": N_("Password reset"),
    "user.unlock": N_("User unlocked"),
    "user.disable": N_("User disabled"),
    "user.enable": N_("User enabled"),
    "store.save": N_("Store saved"),
    "store.deactivate": N_("Store deactivated"),
    "store.activate": N_("Store activated"),
    "apikey.create": N_("API key created"),
    "apikey.revoke": N_("API key revoked"),
    "settings.save": N_("Settings changed"),
}


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _filter(
    request: Request, user: str, action: str, target: str, since: str, until: str
) -> AuditFilter:
    """The filter, with the dates as whole local days in the program's time zone."""
    zone = ZoneInfo(getattr(request.state, "timezone", "Asia/Shanghai"))
    first, last = _day(since), _day(until)
    start = datetime.combine(first, time(), zone) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), zone) if last else None
    return AuditFilter(user, action, target, start, end)


@router.get("/console/audit")
def audit_log_page(
    request: Request,
    who: Owner,
    user: Short = "",
    action: Short = "",
    target: Short = "",
    since: Annotated[str, Query(alias="from", max_length=10)] = "",
    until: Annotated[str, Query(alias="to", max_length=10)] = "",
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    format: str | None = None,
) -> Response:
    fmt = check_export(who, format)
    wanted = _filter(request, user, action, target, since, until)
    query = {"user": user, "action": action, "target": target, "from": since, "to": until}
    if fmt:
        return _export(request, who, fmt, wanted)
    with reading(request) as session:
        entries, next_before = audit_page(session, who.program_id, wanted, before, PAGE)
        users, actions = audit_choices(session, who.program_id)
    context: dict[str, Any] = {
        "entries": entries,
        "users": users,
        "actions": actions,
        "action_names": ACTIONS,
        "query": query,
        "bad_dates": (since and not _day(since)) or (until and not _day(until)),
        "first_page": before is None,
        "query_string": urlencode({k: v for k, v in query.items() if v}),
        "next_before": next_before,
        "details_lines": lambda details: details_lines(details, _namer(request)),
    }
    return render(request, "console/admin_audit.html", context)


FIELDS = {
    "username": N_("User name"),
    "display_name": N_("Name"),
    "role": N_("Role"),
    "stores": N_("Stores"),
    "store": N_("Store"),
    "code": N_("Store code"),
    "name": N_("Name"),
    "channel": N_("Channel"),
    "region": N_("Region"),
    "groups": N_("Store groups"),
    "prefix": N_("Prefix"),
    "created": N_("New"),
    "timezone": N_("Time zone"),
    "point_value": N_("Point value (yuan per point)"),
    "earn_points": N_("Points"),
    "earn_per_amount": N_("for every (fen)"),
    "rounding": N_("Rounding of part points"),
    "expiry_policy": N_("Points expire"),
    "expiry_days": N_("Days until expiry (rolling)"),
    "expiry_years": N_("Years (calendar year)"),
    "pending_days": N_("Pending days"),
    "hold_ttl_seconds": N_("Hold time-out (seconds)"),
    "excluded_categories": N_("Categories that earn no points"),
    "excluded_payment_methods": N_("Payment methods that earn no points"),
    "tier_downgrade": N_("Tier downgrade"),
    "tier_inactive_days": N_("Days without a purchase"),
    "tier_protection_days": N_("Protection after an upgrade (days)"),
}


def details_lines(details: dict[str, Any], name: Callable[[str], str]) -> list[str]:
    """An entry's details, one line each: ``Role: clerk → manager``, ``Stores: SH001``."""
    lines = []
    for key, value in (details or {}).items():
        if key == "changes" and isinstance(value, dict):
            lines += [
                f"{name(field)}: {_plain(pair[0])} → {_plain(pair[1])}"
                for field, pair in value.items()
                if isinstance(pair, list | tuple) and len(pair) == 2
            ]
        else:
            lines.append(f"{name(key)}: {_plain(value)}")
    return lines


def _namer(request: Request) -> Callable[[str], str]:
    return lambda key: translate(request, FIELDS[key]) if key in FIELDS else key


def _plain(value: Any) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _export(request: Request, who: ConsoleIdentity, fmt: str, wanted: AuditFilter) -> Response:
    header = [
        translate(request, "Time"),
        translate(request, "User"),
        translate(request, "Action"),
        translate(request, "Target"),
    ]
    header += [translate(request, "Details"), translate(request, "IP address")]

    zone = ZoneInfo(getattr(request.state, "timezone", "Asia/Shanghai"))
    name = _namer(request)

    def rows() -> Iterator[list[Any]]:
        with reading(request) as session:
            for e in audit_entries(session, who.program_id, wanted):
                details = "; ".join(details_lines(e.details, name))
                yield [e.at.astimezone(zone), e.username, e.action, _target(e), details, e.ip]

    return export_response(fmt, "audit-log", header, rows())


def _target(entry: AuditEntry) -> str:
    if entry.target_type is None:
        return ""
    return f"{entry.target_type}:{entry.target_id}"
