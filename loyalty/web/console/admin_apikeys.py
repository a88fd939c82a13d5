"""Console: API keys (owner only). A new key is shown once; the log keeps only its prefix.

Revoking is immediate in this process; other API processes remember a key they checked for
``api_key_cache_seconds`` (5 s by default), so there it is refused at most that much later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from loyalty.api.deps import reading
from loyalty.apikeys.manage import KeyRow, get_key, key_rows, revoke
from loyalty.apikeys.models import ROLES, ApiKey
from loyalty.apikeys.service import create_key
from loyalty.config import get_settings
from loyalty.stores.manage import all_stores
from loyalty.stores.models import Store
from loyalty.stores.service import find_store
from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.admin_forms import Audited, Errors, audited_write, check_export
from loyalty.web.console.deps import require
from loyalty.web.exports import export_response
from loyalty.web.i18n import N_
from loyalty.web.templating import render, translate

router = APIRouter()
Owner = Annotated[ConsoleIdentity, Depends(require("apikeys.manage"))]
KeyId = Annotated[int, Path(ge=1, le=2**62)]
KEY_ROLES = {
    "admin": N_("Admin: every call"),
    "pos": N_("POS: the till of one store"),
    "readonly": N_("Read only: reports and look-ups"),
}


def _page(
    request: Request,
    who: ConsoleIdentity,
    values: dict[str, str] | None = None,
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    with reading(request) as session:
        keys = key_rows(session, who.program_id)
        stores = all_stores(session, who.program_id)
    context: dict[str, Any] = {
        "keys": keys,
        "stores": stores,
        "key_roles": KEY_ROLES,
        "values": values or {"role": "pos"},
        "errors": errors or {},
        "done": request.query_params.get("done", ""),
    }
    return render(request, "console/admin_apikeys.html", context, status_code=status)


@router.get("/console/apikeys")
def apikeys_page(request: Request, who: Owner, format: str | None = None) -> Response:
    fmt = check_export(who, format)
    if fmt:
        with reading(request) as session:
            return _export(request, fmt, key_rows(session, who.program_id))
    return _page(request, who)


def _export(request: Request, fmt: str, rows: list[KeyRow]) -> Response:
    header = [
        translate(request, "Name"),
        translate(request, "Role"),
        translate(request, "Store"),
        translate(request, "Prefix"),
    ]
    header += [translate(request, "Created"), translate(request, "Revoked")]
    lines: list[list[Any]] = [
        [
            r.key.name,
            r.key.role,
            r.store_code or "",
            r.key.prefix,
            r.key.created_at,
            r.key.revoked_at or "",
        ]
        for r in rows
    ]
    return export_response(fmt, "api-keys", header, lines)


def _check(request: Request, who: ConsoleIdentity, name: str, role: str, store: str) -> Errors:
    """The form's problems, in the reader's language (empty when it is fine)."""
    errors: Errors = {}
    if not name.strip():
        errors["name"] = translate(request, "Required")
    if role not in ROLES:
        errors["role"] = translate(request, "Choose one of the options")
    if role == "pos" and not store:
        errors["store"] = translate(request, "A POS key belongs to one store: choose it")
    if role != "pos" and store:
        errors["store"] = translate(request, "Only POS keys belong to a store")
    if store and not _store_exists(request, who, store):
        errors["store"] = translate(request, "Unknown store")
    return errors


def _store_exists(request: Request, who: ConsoleIdentity, code: str) -> bool:
    with reading(request) as session:
        return find_store(session, who.program_id, code) is not None


@router.post("/console/apikeys")
def create_apikey(
    request: Request,
    who: Owner,
    name: Annotated[str, Form(max_length=80)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    store: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    values = {"name": name, "role": role, "store": store}
    errors = _check(request, who, name, role, store)
    if errors:
        return _page(request, who, values, errors, 422)

    def work(session: Session, now: datetime) -> Audited[tuple[ApiKey, str]]:
        key, token = create_key(session, who.program_id, name.strip(), role, store or None, now)
        details = {"name": key.name, "role": role, "store": store or None, "prefix": key.prefix}
        return (key, token), ("apikey", key.id), details

    key, token = audited_write(request, who, "apikey.create", work)
    context = {"key": key, "token": token, "store": store, "key_roles": KEY_ROLES}
    return render(request, "console/admin_apikey_created.html", context, status_code=201)


@router.get("/console/apikeys/{key_id}/revoke")
def revoke_form(request: Request, who: Owner, key_id: KeyId) -> Response:
    with reading(request) as session:
        key = get_key(session, who.program_id, key_id)
        store = session.get(Store, key.store_id) if key.store_id else None
    context = {
        "key": key,
        "store": store,
        "key_roles": KEY_ROLES,
        "cache_seconds": f"{get_settings().api_key_cache_seconds:g}",
    }
    return render(request, "console/admin_apikey_revoke.html", context)


@router.post("/console/apikeys/{key_id}/revoke")
def revoke_action(request: Request, who: Owner, key_id: KeyId) -> Response:
    def work(session: Session, now: datetime) -> Audited[ApiKey]:
        key = revoke(session, who.program_id, key_id, now)
        return key, ("apikey", key.id), {"name": key.name, "prefix": key.prefix}

    audited_write(request, who, "apikey.revoke", work)
    return RedirectResponse("/console/apikeys?done=revoked", status_code=303)
