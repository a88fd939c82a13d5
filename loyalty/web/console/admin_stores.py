"""Console: stores. Everyone at HQ sees them all; a store manager sees only their own."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from loyalty.api.deps import reading
from loyalty.stores.endpoints import StoreIn
from loyalty.stores.manage import StoreRow, set_store_active, store_rows, update_store
from loyalty.stores.models import CHANNELS, Store
from loyalty.stores.service import StoreCodeTakenError, create_store, get_store
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.admin_forms import (
    Audited,
    Errors,
    audited_write,
    blank_to_none,
    check_export,
    field_errors,
    problem_text,
    split_list,
)
from loyalty.web.console.deps import require, require_store
from loyalty.web.exports import export_response
from loyalty.web.labels import CHANNEL_NAMES, label
from loyalty.web.templating import render, translate

router = APIRouter()
Viewer = Annotated[ConsoleIdentity, Depends(require("stores.view"))]
Editor = Annotated[ConsoleIdentity, Depends(require("stores.edit"))]
StoreCode = Annotated[str, Path(max_length=32)]
Text = Annotated[str, Form(max_length=500)]


def _visible(session: Session, who: ConsoleIdentity) -> list[StoreRow]:
    return store_rows(session, who.program_id, who.store_ids if who.store_bound else None)


@router.get("/console/stores")
def stores_page(request: Request, who: Viewer, format: str | None = None) -> Response:
    fmt = check_export(who, format)
    with reading(request) as session:
        rows = _visible(session, who)
    if fmt:
        return _export(request, fmt, rows)
    context = {"rows": rows, "done": request.query_params.get("done", "")}
    return render(request, "console/admin_stores.html", context)


def _export(request: Request, fmt: str, rows: list[StoreRow]) -> Response:
    header = [
        translate(request, "Store code"),
        translate(request, "Name"),
        translate(request, "Channel"),
    ]
    header += [
        translate(request, "Region"),
        translate(request, "Store groups"),
        translate(request, "Active"),
    ]
    header += [translate(request, "Members registered")]
    lines = (
        [
            r.store.code,
            r.store.name,
            translate(request, label(CHANNEL_NAMES, r.store.channel)),
            r.store.region or "",
            ", ".join(r.store.groups or []),
            translate(request, "Yes") if r.store.active else translate(request, "No"),
            r.members,
        ]
        for r in rows
    )
    return export_response(fmt, "stores", header, lines)


def _form(
    request: Request,
    store: Store | None,
    values: dict[str, Any],
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    context = {"store": store, "values": values, "errors": errors or {}, "channels": CHANNELS}
    return render(request, "console/admin_store_form.html", context, status_code=status)


def _values_of(store: Store) -> dict[str, Any]:
    return {
        "code": store.code,
        "name": store.name,
        "channel": store.channel,
        "region": store.region or "",
        "groups": ", ".join(store.groups or []),
    }


@router.get("/console/stores/new")
def new_store_form(request: Request, who: Editor) -> Response:
    return _form(request, None, {"channel": "store"})


@router.post("/console/stores")
def create_store_action(
    request: Request,
    who: Editor,
    code: Text = "",
    name: Text = "",
    channel: Text = "",
    region: Text = "",
    groups: Text = "",
) -> Response:
    values = {"code": code, "name": name, "channel": channel, "region": region, "groups": groups}
    try:
        body = _checked(values)
    except ValidationError as exc:
        return _form(request, None, values, field_errors(request, exc), 422)

    def work(session: Session, now: datetime) -> Audited[Store]:
        store = create_store(session, who.program_id, now=now, **body.model_dump())
        return store, ("store", store.code), {**body.model_dump(), "created": True}

    try:
        audited_write(request, who, "store.save", work)
    except StoreCodeTakenError as exc:
        return _form(request, None, values, {"code": problem_text(request, exc)}, 409)
    return RedirectResponse("/console/stores?done=created", status_code=303)


def _checked(values: dict[str, str]) -> StoreIn:
    """The API's own validation of a store, fed from the form's text."""
    return StoreIn.model_validate(
        {
            "code": values["code"],
            "name": values["name"],
            "channel": values["channel"],
            "region": blank_to_none(values["region"]),
            "groups": split_list(values["groups"]),
        }
    )


@router.get("/console/stores/{code}")
def store_page(request: Request, who: Viewer, code: StoreCode) -> Response:
    with reading(request) as session:
        store = get_store(session, who.program_id, code)
    require_store(who, store.id)
    return _form(request, store, _values_of(store))


@router.post("/console/stores/{code}")
def update_store_action(
    request: Request,
    who: Editor,
    code: StoreCode,
    name: Text = "",
    channel: Text = "",
    region: Text = "",
    groups: Text = "",
) -> Response:
    values = {"code": code, "name": name, "channel": channel, "region": region, "groups": groups}
    with reading(request) as session:
        store = get_store(session, who.program_id, code)
    try:
        body = _checked(values)
    except ValidationError as exc:
        return _form(request, store, values, field_errors(request, exc), 422)
    changes = body.model_dump(exclude={"code"})

    def work(session: Session, now: datetime) -> Audited[Store]:
        before = _values_of(get_store(session, who.program_id, code))
        saved = update_store(session, who.program_id, code, **changes)
        return saved, ("store", code), {"code": code, **_diff(before, _values_of(saved))}

    audited_write(request, who, "store.save", work)
    return RedirectResponse("/console/stores?done=saved", status_code=303)


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changed = {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}
    return {"changes": changed}


@router.post("/console/stores/{code}/deactivate")
def deactivate_store(request: Request, who: Editor, code: StoreCode) -> Response:
    return _set_active(request, who, code, False)


@router.post("/console/stores/{code}/activate")
def activate_store(request: Request, who: Editor, code: StoreCode) -> Response:
    return _set_active(request, who, code, True)


def _set_active(request: Request, who: ConsoleIdentity, code: str, active: bool) -> Response:
    def work(session: Session, now: datetime) -> Audited[Store]:
        store = set_store_active(session, who.program_id, code, active)
        return store, ("store", code), {"code": code, "name": store.name}

    action = "store.activate" if active else "store.deactivate"
    audited_write(request, who, action, work)
    done = "activated" if active else "deactivated"
    return RedirectResponse(f"/console/stores?done={done}", status_code=303)
