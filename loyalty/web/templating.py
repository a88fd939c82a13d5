"""Jinja2 templates with the request's language, formats and signed-in user in every page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from loyalty.web.i18n import DEFAULT_LOCALE, Formats, gettext_for, negotiate
from loyalty.web.labels import CHANNEL_NAMES, ENTRY_KINDS, MEMBER_STATUSES, ROLE_NAMES, label

TEMPLATES = Path(__file__).resolve().parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "xml"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["role_name"] = lambda code: label(ROLE_NAMES, code)
env.globals["label"] = label
env.globals["labels"] = {
    "roles": ROLE_NAMES,
    "channels": CHANNEL_NAMES,
    "entry_kinds": ENTRY_KINDS,
    "member_statuses": MEMBER_STATUSES,
}
templates = Jinja2Templates(env=env)


def request_locale(request: Request) -> str:
    cached: str | None = getattr(request.state, "locale", None)
    if cached is None:
        cached = negotiate(request.cookies.get("lang"), request.headers.get("accept-language"))
        request.state.locale = cached
    return cached


def page_context(request: Request) -> dict[str, Any]:
    """What every template may use: ``_``, ``fmt``, ``locale``, ``who`` and ``csrf_token``."""
    locale = request_locale(request)
    who = getattr(request.state, "identity", None)
    timezone = getattr(request.state, "timezone", "Asia/Shanghai")
    return {
        "_": gettext_for(locale),
        "gettext": gettext_for(locale),
        "fmt": Formats(locale, timezone),
        "locale": locale,
        "html_lang": "zh-CN" if locale == DEFAULT_LOCALE else "en",
        "who": who,
        "csrf_token": getattr(who, "csrf_token", "") or getattr(request.state, "csrf_token", ""),
        "is_htmx": request.headers.get("hx-request") == "true",
    }


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` with the page context and ``context``."""
    merged = page_context(request) | (context or {})
    return templates.TemplateResponse(
        request, template, merged, status_code=status_code, headers=headers
    )


def translate(request: Request, message: str, **values: Any) -> str:
    """A message in the request's language, for code that builds text outside a template."""
    return gettext_for(request_locale(request))(message, **values)
