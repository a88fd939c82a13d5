"""Errors on the console and the member page are pages (or HTMX fragments), not JSON."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from loyalty.web.templating import render

PAGE_PREFIXES = ("/console", "/m")


class SignInRequired(Exception):
    """Raised by a page dependency when nobody is signed in; answered with a redirect."""

    def __init__(self, login_url: str) -> None:
        super().__init__(login_url)
        self.login_url = login_url


def is_page(request: Request) -> bool:
    path = request.url.path
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


def page_errors(request: Request, body: dict[str, Any]) -> Response | None:
    """An error page (or an alert fragment for HTMX) for page requests; None for the API."""
    if not is_page(request):
        return None
    status = int(body["status"])
    template = "_alert.html" if request.headers.get("hx-request") == "true" else "error.html"
    layout = "member/layout.html" if request.url.path.startswith("/m") else "console/layout.html"
    return render(request, template, {"problem": body, "layout": layout}, status_code=status)


async def sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": exc.login_url})
    return RedirectResponse(exc.login_url, status_code=303)
