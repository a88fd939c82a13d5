"""Console: console users and their roles (owner only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from loyalty.api.deps import now_factory, reading
from loyalty.errors import LoyaltyError
from loyalty.stores.manage import all_stores
from loyalty.stores.models import Store
from loyalty.users import manage
from loyalty.users.manage import UserRow, get_user, stores_by_user, user_rows
from loyalty.users.models import ConsoleUser
from loyalty.users.permissions import ROLES, STORE_BOUND
from loyalty.users.service import (
    MIN_PASSWORD_LENGTH,
    ConsoleIdentity,
    UsernameTakenError,
    create_user,
)
from loyalty.web.console.admin_forms import (
    Audited,
    Errors,
    audited_write,
    check_export,
    problem_text,
)
from loyalty.web.console.deps import require
from loyalty.web.exports import export_response
from loyalty.web.labels import ROLE_NAMES, label
from loyalty.web.templating import render, translate

router = APIRouter()
Owner = Annotated[ConsoleIdentity, Depends(require("users.manage"))]
UserId = Annotated[int, Path(ge=1, le=2**62)]
Text = Annotated[str, Form(max_length=200)]
StoreCodes = Annotated[list[str], Form()]


@router.get("/console/users")
def users_page(request: Request, who: Owner, format: str | None = None) -> Response:
    fmt = check_export(who, format)
    now = now_factory(request)()
    with reading(request) as session:
        rows = user_rows(session, who.program_id)
    if fmt:
        return _export(request, fmt, rows, now)
    context = {"rows": rows, "now": now, "done": request.query_params.get("done", "")}
    return render(request, "console/admin_users.html", context)


def _export(request: Request, fmt: str, rows: list[UserRow], now: datetime) -> Response:
    header = [
        translate(request, "User name"),
        translate(request, "Name"),
        translate(request, "Role"),
    ]
    header += [
        translate(request, "Stores"),
        translate(request, "Last sign-in"),
        translate(request, "Locked"),
    ]
    header += [translate(request, "Disabled")]
    yes, no = translate(request, "Yes"), translate(request, "No")
    lines = [
        [
            r.user.username,
            r.user.display_name,
            translate(request, label(ROLE_NAMES, r.user.role)),
            ", ".join(s.code for s in r.stores),
            r.user.last_login_at or "",
            yes if r.locked(now) else no,
            yes if r.user.disabled_at else no,
        ]
        for r in rows
    ]
    return export_response(fmt, "console-users", header, lines)


def _stores(request: Request, who: ConsoleIdentity) -> list[Store]:
    with reading(request) as session:
        return all_stores(session, who.program_id)


def _new_form(
    request: Request,
    who: ConsoleIdentity,
    values: dict[str, Any],
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    context = {
        "values": values,
        "errors": errors or {},
        "roles": ROLES,
        "stores": _stores(request, who),
        "min_password": MIN_PASSWORD_LENGTH,
    }
    return render(request, "console/admin_user_new.html", context, status_code=status)


@router.get("/console/users/new")
def new_user_form(request: Request, who: Owner) -> Response:
    return _new_form(request, who, {"role": "clerk", "stores": []})


def _check_role(request: Request, role: str, stores: list[str]) -> Errors:
    if role not in ROLES:
        return {"role": translate(request, "Choose one of the options")}
    if role in STORE_BOUND and not stores:
        return {"stores": translate(request, "Choose at least one store for this role")}
    return {}


def _check_password(request: Request, password: str, confirm: str) -> Errors:
    if len(password) < MIN_PASSWORD_LENGTH:
        text = translate(request, "At least %(count)s characters", count=MIN_PASSWORD_LENGTH)
        return {"password": text}
    if password != confirm:
        return {"confirm": translate(request, "The two passwords differ")}
    return {}


@router.post("/console/users")
def create_user_action(
    request: Request,
    who: Owner,
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=80)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    password: Text = "",
    confirm: Text = "",
    stores: StoreCodes = [],  # noqa: B006 (FastAPI copies the default)
) -> Response:
    values = {"username": username, "display_name": display_name, "role": role, "stores": stores}
    errors = _check_role(request, role, stores) | _check_password(request, password, confirm)
    if not username.strip():
        errors["username"] = translate(request, "Required")
    if errors:
        return _new_form(request, who, values, errors, 422)
    codes = stores if role in STORE_BOUND else []

    def work(session: Session, now: datetime) -> Audited[ConsoleUser]:
        user = create_user(
            session, who.program_id, username, password, role, now, display_name.strip(), codes
        )
        details = {"username": user.username, "role": role, "stores": codes}
        return user, ("user", user.id), details

    try:
        audited_write(request, who, "user.create", work)
    except UsernameTakenError as exc:
        return _new_form(request, who, values, {"username": problem_text(request, exc)}, 409)
    except LoyaltyError as exc:
        return _new_form(request, who, values, {"": problem_text(request, exc)}, exc.status)
    return RedirectResponse("/console/users?done=created", status_code=303)


def _user_page(
    request: Request,
    who: ConsoleIdentity,
    user_id: int,
    errors: Errors | None = None,
    status: int = 200,
    values: dict[str, Any] | None = None,
) -> Response:
    now = now_factory(request)()
    with reading(request) as session:
        user = get_user(session, who.program_id, user_id)
        mine = [s.code for s in stores_by_user(session, [user.id]).get(user.id, [])]
    context = {
        "user": user,
        "values": values or {"display_name": user.display_name, "role": user.role, "stores": mine},
        "locked": user.locked_until is not None and user.locked_until > now,
        "errors": errors or {},
        "roles": ROLES,
        "stores": _stores(request, who),
        "min_password": MIN_PASSWORD_LENGTH,
        "done": request.query_params.get("done", ""),
        "is_me": user.id == who.user_id,
    }
    return render(request, "console/admin_user.html", context, status_code=status)


@router.get("/console/users/{user_id}")
def user_page(request: Request, who: Owner, user_id: UserId) -> Response:
    return _user_page(request, who, user_id)


@router.post("/console/users/{user_id}")
def update_user_action(
    request: Request,
    who: Owner,
    user_id: UserId,
    display_name: Annotated[str, Form(max_length=80)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    stores: StoreCodes = [],  # noqa: B006 (FastAPI copies the default)
) -> Response:
    values = {"display_name": display_name, "role": role, "stores": stores}
    errors = _check_role(request, role, stores)
    if errors:
        return _user_page(request, who, user_id, errors, 422, values)

    def work(session: Session, now: datetime) -> Audited[ConsoleUser]:
        user = get_user(session, who.program_id, user_id)
        before = _snapshot(session, user)
        manage.update_user(session, user, display_name=display_name, role=role, store_codes=stores)
        after = _snapshot(session, user)
        changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        return user, ("user", user.id), {"username": user.username, "changes": changes}

    answer = _act(request, who, user_id, "user.save", work, "saved", values)
    if user_id == who.user_id and role != "owner" and answer.status_code == 303:
        return RedirectResponse("/console", status_code=303)  # no longer an owner's page
    return answer


def _snapshot(session: Session, user: ConsoleUser) -> dict[str, Any]:
    stores = stores_by_user(session, [user.id]).get(user.id, [])
    return {
        "display_name": user.display_name,
        "role": user.role,
        "stores": [s.code for s in stores],
    }


def _act(
    request: Request,
    who: ConsoleIdentity,
    user_id: int,
    action: str,
    work: Callable[[Session, datetime], Audited[ConsoleUser]],
    done: str,
    values: dict[str, Any] | None = None,
) -> Response:
    """Run an audited change to a user; a refused change shows the page with the reason."""
    try:
        audited_write(request, who, action, work)
    except LoyaltyError as exc:
        errors = {"": problem_text(request, exc)}
        return _user_page(request, who, user_id, errors, exc.status, values)
    return RedirectResponse(f"/console/users/{user_id}?done={done}", status_code=303)


def _simple(
    change: Callable[[Session, ConsoleUser, datetime], None], who: ConsoleIdentity, user_id: int
) -> Callable[[Session, datetime], Audited[ConsoleUser]]:
    """An audited change to one user whose details are just their user name."""

    def work(session: Session, now: datetime) -> Audited[ConsoleUser]:
        user = get_user(session, who.program_id, user_id)
        change(session, user, now)
        return user, ("user", user.id), {"username": user.username}

    return work


@router.post("/console/users/{user_id}/password")
def reset_password_action(
    request: Request, who: Owner, user_id: UserId, password: Text = "", confirm: Text = ""
) -> Response:
    errors = _check_password(request, password, confirm)
    if errors:
        return _user_page(request, who, user_id, errors, 422)

    def change(session: Session, user: ConsoleUser, now: datetime) -> None:
        manage.reset_password(session, user, password, who.user_id)

    return _act(
        request, who, user_id, "user.reset_password", _simple(change, who, user_id), "reset"
    )


@router.post("/console/users/{user_id}/unlock")
def unlock_action(request: Request, who: Owner, user_id: UserId) -> Response:
    work = _simple(lambda s, user, now: manage.unlock(s, user), who, user_id)
    return _act(request, who, user_id, "user.unlock", work, "unlocked")


@router.post("/console/users/{user_id}/disable")
def disable_action(request: Request, who: Owner, user_id: UserId) -> Response:
    work = _simple(lambda s, user, now: manage.set_disabled(s, user, True, now), who, user_id)
    return _act(request, who, user_id, "user.disable", work, "disabled")


@router.post("/console/users/{user_id}/enable")
def enable_action(request: Request, who: Owner, user_id: UserId) -> Response:
    work = _simple(lambda s, user, now: manage.set_disabled(s, user, False, now), who, user_id)
    return _act(request, who, user_id, "user.enable", work, "enabled")
