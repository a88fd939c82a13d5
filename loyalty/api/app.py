"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from loyalty import __version__
from loyalty.api import problems
from loyalty.api.limits import BodySizeLimit
from loyalty.config import get_settings
from loyalty.coupons.endpoints import router as coupons_router
from loyalty.db.engine import Database
from loyalty.ledger.endpoints import router as points_router
from loyalty.lotteries.endpoints import router as lotteries_router
from loyalty.members.endpoints import router as members_router
from loyalty.orders.endpoints import router as orders_router
from loyalty.programs.endpoints import router as program_router
from loyalty.reports.endpoints import router as reports_router
from loyalty.rewards.endpoints import router as rewards_router
from loyalty.rules.endpoints import router as rules_router
from loyalty.stores.endpoints import router as stores_router
from loyalty.tasks.endpoints import router as tasks_router
from loyalty.tiers.endpoints import router as tiers_router
from loyalty.wallet.endpoints import router as wallet_router
from loyalty.web import app as web

DESCRIPTION = """
Member loyalty points engine (会员积分系统): one member and one points balance across every
store and channel. Authenticate with `Authorization: Bearer <API key>`
(`loyalty apikeys create`). Amounts are integers in minor units (fen); points are integers;
times are RFC 3339 with an offset. Errors are `application/problem+json` with a stable `code`.
Every state-changing POST accepts an `Idempotency-Key` header.
"""


def create_app(db: Database | None = None, clock: Callable[[], datetime] | None = None) -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Loyalty points engine", version=__version__, description=DESCRIPTION)
    app.state.db = db or Database(
        settings.database_url, pool_size=settings.db_pool_size, echo=settings.echo_sql
    )
    if clock is not None:
        app.state.clock = clock
    problems.install(app)

    # Routes match in the order they are added, one by one: the cheapest and the busiest first.
    @app.get("/healthz", tags=["meta"], openapi_extra={"security": []})
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    routers = (
        orders_router,
        members_router,
        points_router,
        stores_router,
        reports_router,
        rules_router,
        tiers_router,
        program_router,
        tasks_router,
        rewards_router,
        wallet_router,
        coupons_router,
        lotteries_router,
    )
    for router in routers:
        app.include_router(router)
    web.mount(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    _document_auth(app)

    return app


def _document_auth(app: FastAPI) -> None:
    """Declare the API key as the document's security scheme (the dependencies read the
    header themselves), so /docs has an Authorize button and clients know what to send."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `loyalty apikeys create`",
                }
            }
            schema["security"] = [{"apiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
