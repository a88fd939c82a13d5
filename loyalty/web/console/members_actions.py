"""Console: adjust a member's points with a reason, merge two accounts of one person.

Both go through the domain services (``ledger.operations.adjust``, ``members.service.merge``)
inside ``console_write``, so the change and its audit entry commit together. A bad form is
shown again with its message and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from loyalty.api.deps import now_factory, reading
from loyalty.errors import LoyaltyError
from loyalty.ledger.operations import adjust
from loyalty.ledger.service import InsufficientPointsError
from loyalty.members.models import Member
from loyalty.members.profile import MergeSide, merge_side, merged_outcome
from loyalty.members.search import exact_matches
from loyalty.members.service import get_member, merge, require_active
from loyalty.programs.service import get_program
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import console_write, require
from loyalty.web.console.members_shared import (
    IDENTIFIER_TYPES,
    MemberId,
    actor_of,
    sees_full_phone,
    show_phone,
    visible_member,
)
from loyalty.web.templating import render, translate

router = APIRouter()
Adjuster = Annotated[ConsoleIdentity, Depends(require("members.adjust"))]
Merger = Annotated[ConsoleIdentity, Depends(require("members.merge"))]
Field = Annotated[str, Form(max_length=2000)]
MAX_ADJUST = 100_000_000
REASON_MAX = 200


class FormProblem(Exception):
    """A form field the page refuses before anything is written: the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- adjusting points --------------------------------------------------------------------------


@dataclass(frozen=True)
class Adjustment:
    points: int
    reason: str
    expires_at: datetime | None


def _points(request: Request, raw: str) -> int:
    text = raw.strip().replace(",", "").replace("＋", "+").replace("－", "-")
    try:
        points = int(text)
    except ValueError:
        raise FormProblem(
            translate(request, "Enter the points as a whole number, e.g. 100 or -50")
        ) from None
    if points == 0:
        raise FormProblem(translate(request, "Points must not be zero"))
    if abs(points) > MAX_ADJUST:
        raise FormProblem(
            translate(request, "At most %(max)s points at a time", max=f"{MAX_ADJUST:,}")
        )
    return points


def _expiry(request: Request, raw: str, points: int, now: datetime) -> datetime | None:
    """The end of the chosen day in the program's time zone, for points added."""
    if not raw.strip():
        return None
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        raise FormProblem(translate(request, "Enter the expiry date as YYYY-MM-DD")) from None
    if points < 0:
        raise FormProblem(translate(request, "Only points added can have an expiry date"))
    zone = ZoneInfo(getattr(request.state, "timezone", "Asia/Shanghai"))
    expires = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    if expires <= now:
        raise FormProblem(translate(request, "The expiry date must be today or later"))
    return expires


def _adjustment(
    request: Request, points: str, reason: str, expires_on: str, now: datetime
) -> Adjustment:
    amount = _points(request, points)
    why = " ".join(reason.split())
    if not why:
        raise FormProblem(translate(request, "Enter the reason for this adjustment"))
    if len(why) > REASON_MAX:
        raise FormProblem(
            translate(
                request, "The reason is too long (at most %(max)s characters)", max=REASON_MAX
            )
        )
    return Adjustment(amount, why, _expiry(request, expires_on, amount, now))


def _adjust_page(
    request: Request,
    who: ConsoleIdentity,
    member_id: int,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    with reading(request) as session:
        member = visible_member(session, who, member_id)
        context = {
            "member": member,
            "phone": show_phone(member.phone, sees_full_phone(who)),
            "form": form or {"points": "", "reason": "", "expires_on": ""},
            "error": error,
        }
    return render(request, "console/members_adjust.html", context, status_code=status)


@router.get("/console/members/{member_id}/adjust")
def adjust_form(request: Request, who: Adjuster, member_id: MemberId) -> Response:
    return _adjust_page(request, who, member_id)


@router.post("/console/members/{member_id}/adjust")
def adjust_points(
    request: Request,
    who: Adjuster,
    member_id: MemberId,
    points: Field = "",
    reason: Field = "",
    expires_on: Field = "",
) -> Response:
    """Add or deduct points with a reason; audited as ``points.adjust``."""
    form = {"points": points, "reason": reason, "expires_on": expires_on}
    with reading(request) as session:
        member = visible_member(session, who, member_id)  # managers: their stores' members only
    try:
        require_active(member)  # never through a merged account to the one it was merged into
        change = _adjustment(request, points, reason, expires_on, now_factory(request)())
        _write_adjustment(request, who, member_id, change)
    except FormProblem as problem:
        return _adjust_page(request, who, member_id, form, problem.message, 422)
    except LoyaltyError as exc:
        return _adjust_page(request, who, member_id, form, _refusal(request, exc), exc.status)
    return RedirectResponse(f"/console/members/{member_id}?done=adjusted", status_code=303)


def _write_adjustment(
    request: Request, who: ConsoleIdentity, member_id: int, change: Adjustment
) -> None:
    def work(session: Session, now: datetime) -> Any:
        program = get_program(session, who.program_id)
        return adjust(
            session,
            program,
            member_id,
            change.points,
            change.reason,
            change.expires_at,
            actor_of(who),
            now,
        )

    console_write(
        request,
        who,
        "points.adjust",
        work,
        target=lambda entry: ("member", member_id),
        points=change.points,
        reason=change.reason,
        expires_at=change.expires_at.isoformat() if change.expires_at else None,
    )


def _refusal(request: Request, exc: LoyaltyError, reason: str | None = None) -> str:
    """What the service refused, in the reader's language (``reason`` if the page knows why)."""
    if isinstance(exc, InsufficientPointsError):
        return translate(
            request,
            "Not enough points: only %(points)s available to deduct",
            points=f"{int(exc.extra.get('available', 0)):,}",
        )
    problem = translate(request, exc.title)
    return translate(
        request, "%(problem)s: %(detail)s", problem=problem, detail=reason or exc.detail
    )


# --- merging two accounts ----------------------------------------------------------------------


def _candidates(
    session: Session, who: ConsoleIdentity, text: str, source_id: int | None
) -> list[Member]:
    if source_id is not None:
        return [get_member(session, who.program_id, source_id)]
    ids = (
        exact_matches(session, who.program_id, text.strip(), follow_merged=False)
        if text.strip()
        else {}
    )
    return [get_member(session, who.program_id, i) for i in sorted(ids)]


def _merge_problem(request: Request, survivor: Member, source: Member) -> str | None:
    """Why these two cannot be merged (the service refuses the same), or None."""
    if survivor.id == source.id:
        return translate(request, "A member cannot be merged into itself")
    for m in (survivor, source):
        if m.status == "merged":
            return translate(request, "Member %(no)s was already merged", no=m.member_no)
    return None


def _side_view(request: Request, who: ConsoleIdentity, side: MergeSide) -> dict[str, Any]:
    reveal = sees_full_phone(who)
    return {
        "side": side,
        "identifiers": [
            (IDENTIFIER_TYPES.get(t, t), show_phone(v, reveal) if t == "phone" else v)
            for t, v in side.identifiers
        ],
    }


def _merge_context(
    request: Request, who: ConsoleIdentity, member_id: int, text: str, source_id: int | None
) -> dict[str, Any]:
    with reading(request) as session:
        survivor = visible_member(session, who, member_id)
        found = _candidates(session, who, text, source_id)
        context: dict[str, Any] = {"member": survivor, "source_text": text, "candidates": found}
        if text.strip() and not found:
            context["error"] = translate(request, "No member has the number %(text)s", text=text)
        if len(found) == 1:
            context |= _preview(request, who, session, survivor, found[0])
    return context


def _preview(
    request: Request, who: ConsoleIdentity, session: Session, survivor: Member, source: Member
) -> dict[str, Any]:
    problem = _merge_problem(request, survivor, source)
    if problem:
        return {"error": problem}
    keep, fold = merge_side(session, survivor), merge_side(session, source)
    return {
        "source": source,
        "keep": _side_view(request, who, keep),
        "fold": _side_view(request, who, fold),
        "after": _side_view(request, who, merged_outcome(keep, fold)),
    }


@router.get("/console/members/{member_id}/merge")
def merge_form(
    request: Request,
    who: Merger,
    member_id: MemberId,
    source: Annotated[str, Query(max_length=128)] = "",
    source_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    """Find the other account, then preview what the survivor will hold."""
    context = _merge_context(request, who, member_id, source, source_id)
    status = 422 if context.get("error") else 200
    return render(request, "console/members_merge.html", context, status_code=status)


@router.post("/console/members/{member_id}/merge")
def merge_members(
    request: Request,
    who: Merger,
    member_id: MemberId,
    source_id: Annotated[int, Form(ge=1, le=2**62)],
) -> Response:
    """Fold the source account into this one; audited as ``member.merge``."""
    with reading(request) as session:
        survivor = visible_member(session, who, member_id)
        source = get_member(session, who.program_id, source_id)
        reason, source_no = _merge_problem(request, survivor, source), source.member_no
    try:
        console_write(
            request,
            who,
            "member.merge",
            lambda session, now: merge(
                session, who.program_id, member_id, source_id, now, actor_of(who)
            ),
            target=lambda survivor: ("member", survivor.id),
            source_member_id=source_id,
            source_member_no=source_no,
        )
    except LoyaltyError as exc:
        context = _merge_context(request, who, member_id, "", None)
        context["error"] = _refusal(request, exc, reason)
        return render(request, "console/members_merge.html", context, status_code=exc.status)
    return RedirectResponse(f"/console/members/{member_id}?done=merged", status_code=303)
