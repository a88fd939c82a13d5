"""The console (``/console``) and the member page (``/m``), served by the API's app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from loyalty.web.console import router as console_router
from loyalty.web.errors import SignInRequired, is_page, page_errors, sign_in_required
from loyalty.web.member import router as member_router

STATIC = Path(__file__).resolve().parent / "static"

# Scripts only from this server (no inline script); ECharts draws SVG with inline styles.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)


class PageHeaders(BaseHTTPMiddleware):
    """Security headers on every page; pages are never cached by shared proxies."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        if is_page(request):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("Cache-Control", "no-store")
        return response


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
