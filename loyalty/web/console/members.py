"""Console: find members and see everything about one (balance, expiry, tier, history...).

Store-bound users (store managers and clerks) see only the members registered at their own
stores (``Member.store_id``): the list leaves the others out and their pages answer 403.

Phone numbers are personal data: owners, HQ operators and store managers see them in full;
clerks and analysts see them masked (``138****5678``), except on a row found by the very number
they typed (they already know it). Adjusting points and merging accounts live in
``members_actions``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from loyalty.api import pagination
from loyalty.api.deps import now_factory, reading
from loyalty.errors import PermissionDeniedError
from loyalty.ledger.queries import ledger_page, points_view
from loyalty.members.models import Member
from loyalty.members.profile import recent_orders, recent_redemptions
from loyalty.members.search import STATUS_FILTERS, MemberQuery, MemberRow, search
from loyalty.members.service import identifiers_of, tags_of
from loyalty.programs.service import get_program
from loyalty.stores.models import Store
from loyalty.tiers.service import TierSpec, program_tiers, progress, tier_of
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console import members_actions
from loyalty.web.console.deps import require
from loyalty.web.console.members_shared import (
    FULFILMENTS,
    GENDERS,
    IDENTIFIER_TYPES,
    MATCHES,
    REDEMPTION_STATUSES,
    SOURCES,
    MemberId,
    sees_full_phone,
    show_phone,
    tier_name,
    visible_member,
)
from loyalty.web.exports import export_response
from loyalty.web.i18n import N_
from loyalty.web.labels import ENTRY_KINDS, MEMBER_STATUSES, label
from loyalty.web.templating import page_context, render, translate

router = APIRouter()
router.include_router(members_actions.router)
Viewer = Annotated[ConsoleIdentity, Depends(require("members.view"))]
Format = Annotated[str | None, Query(max_length=8)]
PAGE = 50
LEDGER_PAGE = 20
EXPORT_CHUNK = 1000
VARY = {"Vary": "HX-Request, HX-Target"}  # one URL, a whole page or an HTMX fragment
MEMBER_COLUMNS = (
    N_("Member no."),
    N_("Full name"),
    N_("Mobile number"),
    N_("Tier"),
    N_("Available points"),
    N_("Pending points"),
    N_("Registration store"),
    N_("Registered"),
    N_("Last order"),
    N_("Status"),
)
LEDGER_COLUMNS = (
    N_("Time"),
    N_("Kind"),
    N_("Points"),
    N_("Explanation"),
    N_("Source"),
    N_("Source no."),
    N_("Store"),
    N_("Expires"),
    N_("Operator"),
)
MISSING_FOR_NEXT = {
    "spend": N_("Spend %(amount)s more to reach %(tier)s"),
    "points": N_("Earn %(amount)s more points to reach %(tier)s"),
    "orders": N_("%(amount)s more orders to reach %(tier)s"),
}


def _named(request: Request, table: dict[str, str], code: str | None) -> str:
    """The label of a stored code, in the reader's language."""
    english = label(table, code)
    return translate(request, english)


# --- the list ----------------------------------------------------------------------------------


def _query(who: ConsoleIdentity, q: str, status: str) -> MemberQuery:
    return MemberQuery(
        text=q.strip(),
        status=status if status in STATUS_FILTERS else "",
        store_ids=who.store_ids if who.store_bound else None,
    )


def _row_view(
    request: Request, who: ConsoleIdentity, row: MemberRow, ladder: list[TierSpec]
) -> dict[str, Any]:
    m = row.member
    return {
        "id": m.id,
        "member_no": m.member_no,
        "name": m.name or "",
        "phone": show_phone(m.phone, sees_full_phone(who) or row.matched == "phone"),
        "tier": tier_name(request, tier_of(ladder, m.tier_code)),
        "available": m.points_available,
        "pending": m.points_pending,
        "store": row.store_name or "",
        "registered_at": m.registered_at,
        "last_order_at": m.last_order_at,
        "status": m.status,
        "matched": row.matched,
    }


def _rows(
    request: Request, who: ConsoleIdentity, q: MemberQuery, before: int | None, limit: int
) -> list[dict[str, Any]]:
    with reading(request) as session:
        ladder = program_tiers(session, get_program(session, who.program_id))
        return [
            _row_view(request, who, r, ladder)
            for r in search(session, who.program_id, q, before, limit)
        ]


@router.get("/console/members")
def member_list(
    request: Request,
    who: Viewer,
    q: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(max_length=8)] = "",
    cursor: pagination.Cursor = None,
    format: Format = None,
) -> Response:
    """Search by phone, card or any identifier, member number or name; newest first."""
    query = _query(who, q, status)
    if format:
        return _export_members(request, who, query, format)
    rows = _rows(request, who, query, pagination.decode(cursor), PAGE)
    context = {
        "rows": rows,
        "query": query,
        "next_cursor": pagination.encode(rows[-1]["id"]) if len(rows) == PAGE else None,
        "first_page": cursor is None,
        "matches": MATCHES,
    }
    partial = request.headers.get("hx-target") == "member-results"
    template = f"console/members{'_results' if partial else ''}.html"
    return render(request, template, context, headers=VARY)


def _check_export(who: ConsoleIdentity) -> None:
    if not who.can("export"):
        raise PermissionDeniedError(f"role {who.role!r} may not export")


def _export_members(
    request: Request, who: ConsoleIdentity, query: MemberQuery, fmt: str
) -> Response:
    _check_export(who)
    header = [translate(request, name) for name in MEMBER_COLUMNS]
    return export_response(fmt, "members", header, _member_lines(request, who, query))


def _member_lines(
    request: Request, who: ConsoleIdentity, query: MemberQuery
) -> Iterator[list[Any]]:
    """Every member the list would show, read a chunk at a time while the file streams."""
    zone = page_context(request)["fmt"].zone
    before: int | None = None
    while True:
        views = _rows(request, who, query, before, EXPORT_CHUNK)
        for v in views:
            yield [
                v["member_no"],
                v["name"],
                v["phone"],
                v["tier"],
                v["available"],
                v["pending"],
                v["store"],
                _local(v["registered_at"], zone),
                _local(v["last_order_at"], zone),
                _named(request, MEMBER_STATUSES, v["status"]),
            ]
        if len(views) < EXPORT_CHUNK:
            return
        before = views[-1]["id"]


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


# --- one member --------------------------------------------------------------------------------


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _entry_view(request: Request, e: dict[str, Any], member_id: int) -> dict[str, Any]:
    english = page_context(request)["locale"] == "en"
    return {
        **e,
        "occurred_at": _when(e["occurred_at"]),
        "expires_at": _when(e["expires_at"]),
        "source_label": label(SOURCES, e["source"]["type"]),
        "from_merged": e["member_id"] != member_id,
        "why": [
            ((b.get("description_en") if english else None) or b.get("description"), b["points"])
            for b in e["breakdown"]
        ],
    }


def _ledger(
    request: Request, session: Session, member_id: int, before: int | None
) -> dict[str, Any]:
    entries = ledger_page(session, member_id, before, LEDGER_PAGE)
    return {
        "entries": [_entry_view(request, e, member_id) for e in entries],
        "next_before": entries[-1]["id"] if len(entries) == LEDGER_PAGE else None,
    }


def _by_day(request: Request, expiring: list[dict[str, Any]]) -> list[tuple[int, date]]:
    """Points expiring, added up per local day (lots expire at many moments of one day)."""
    zone = page_context(request)["fmt"].zone
    days: dict[date, int] = {}
    for lot in expiring:
        day = datetime.fromisoformat(lot["expires_at"]).astimezone(zone).date()
        days[day] = days.get(day, 0) + lot["points"]
    return [(points, day) for day, points in sorted(days.items())]


def _tier_view(request: Request, info: dict[str, Any], ladder: list[TierSpec]) -> dict[str, Any]:
    """The member's tier and a sentence saying what is missing for the next one."""
    fmt = page_context(request)["fmt"]
    current = tier_name(request, tier_of(ladder, info["code"]))
    nxt = info["next"]
    if nxt is None:
        return {"name": current, "hint": None, "percent": 100, "next": None}
    amount = {"spend": fmt.yuan, "points": fmt.number, "orders": fmt.number}[nxt["metric"]]
    target = tier_name(request, tier_of(ladder, nxt["code"]))
    message = MISSING_FOR_NEXT[nxt["metric"]]
    hint = translate(request, message, amount=amount(nxt["remaining"]), tier=target)
    if nxt["remaining"] == 0:
        hint = translate(request, "Qualifies for %(tier)s with the next order", tier=target)
    percent = min(100, nxt["current"] * 100 // nxt["threshold"]) if nxt["threshold"] else 100
    done = translate(
        request,
        "%(current)s of %(threshold)s in the last %(days)s days",
        current=amount(nxt["current"]),
        threshold=amount(nxt["threshold"]),
        days=nxt["window_days"],
    )
    return {"name": current, "hint": hint, "percent": percent, "next": nxt, "done": done}


def _profile(request: Request, who: ConsoleIdentity, member_id: int) -> dict[str, Any]:
    now = now_factory(request)()
    with reading(request) as session:
        member = visible_member(session, who, member_id)
        program = get_program(session, who.program_id)
        points = points_view(session, member, now)
        merged_into = session.get(Member, member.merged_into_id) if member.merged_into_id else None
        return {
            "member": member,
            "phone": show_phone(member.phone, sees_full_phone(who)),
            "store": session.get(Store, member.store_id) if member.store_id else None,
            "merged_into": merged_into,
            "points": points,
            "expiring": _by_day(request, points["expiring"]),
            "tier": _tier_view(
                request, progress(session, program, member, now), program_tiers(session, program)
            ),
            "identifiers": [
                (
                    i.type,
                    show_phone(i.value, sees_full_phone(who)) if i.type == "phone" else i.value,
                )
                for i in identifiers_of(session, member.id)
            ],
            "tags": sorted(tags_of(session, [member.id]).get(member.id, frozenset())),
            "orders": recent_orders(session, member.id),
            "redemptions": recent_redemptions(session, member.id),
            **_ledger(request, session, member.id, None),
        }


@router.get("/console/members/{member_id}")
def member_page(
    request: Request,
    who: Viewer,
    member_id: MemberId,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Everything about one member: profile, balance, expiry, tier, history, redemptions."""
    context = _profile(request, who, member_id) | {
        "done": done,
        "labels_more": _more_labels(),
    }
    return render(request, "console/members_detail.html", context)


def _more_labels() -> dict[str, dict[str, str]]:
    return {
        "identifier_types": IDENTIFIER_TYPES,
        "redemption_statuses": REDEMPTION_STATUSES,
        "fulfilments": FULFILMENTS,
        "genders": GENDERS,
    }


@router.get("/console/members/{member_id}/ledger")
def member_ledger(
    request: Request,
    who: Viewer,
    member_id: MemberId,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    format: Format = None,
) -> Response:
    """More history (an HTMX fragment of rows, or a page), or all of it as CSV or XLSX."""
    with reading(request) as session:
        member = visible_member(session, who, member_id)
        if format:
            return _export_ledger(request, who, member, format)
        context = {"member": member, **_ledger(request, session, member.id, before)}
    template = (
        "members_ledger_rows" if request.headers.get("hx-request") == "true" else "members_ledger"
    )
    return render(request, f"console/{template}.html", context, headers=VARY)


def _export_ledger(request: Request, who: ConsoleIdentity, member: Member, fmt: str) -> Response:
    _check_export(who)
    header = [translate(request, name) for name in LEDGER_COLUMNS]
    return export_response(
        fmt, f"points-{member.member_no}", header, _entry_lines(request, member.id)
    )


def _entry_lines(request: Request, member_id: int) -> Iterator[list[Any]]:
    """The member's whole history, newest first, read a chunk at a time."""
    zone = page_context(request)["fmt"].zone
    before: int | None = None
    while True:
        with reading(request) as session:
            entries = ledger_page(session, member_id, before, EXPORT_CHUNK)
        for e in entries:
            yield [
                _local(_when(e["occurred_at"]), zone),
                _named(request, ENTRY_KINDS, e["kind"]),
                e["points"],
                _explanation(e),
                _named(request, SOURCES, e["source"]["type"]),
                e["source"]["id"] or "",
                e["store_code"] or "",
                _local(_when(e["expires_at"]), zone),
                e["actor"] or "",
            ]
        if len(entries) < EXPORT_CHUNK:
            return
        before = entries[-1]["id"]


def _explanation(e: dict[str, Any]) -> str:
    """The entry's sentence, then each rule's own (which already names its points)."""
    parts = [e["description"] or "", *(str(b.get("description") or "") for b in e["breakdown"])]
    return "; ".join(p for p in parts if p)
