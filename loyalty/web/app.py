"""The console (``/console``) and the member page (``/m``), served by the API's app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty.web.console import router as console_router
from loyalty.web.errors import PAGE_PREFIXES, SignInRequired, page_errors, sign_in_required
from loyalty.web.member import router as member_router

STATIC = Path(__file__).resolve().parent / "static"

# Scripts only from this server (no inline script); ECharts draws SVG with inline styles.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)


PAGE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class PageHeaders:
    """Security headers on every page; pages are never cached by shared proxies.

    A plain ASGI middleware that lets API requests through untouched (no cost per call).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in PAGE_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def mount(app: FastAPI) -> None:
    app.state.page_errors = page_errors
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(console_router)
    app.include_router(member_router)
    app.add_middleware(PageHeaders)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/console", status_code=307)
