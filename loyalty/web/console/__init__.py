"""The operators' console: one module per area, each with its own router."""

from fastapi import APIRouter

from loyalty.web.console import admin, auth, dashboard, mall, members, rules

router = APIRouter(include_in_schema=False)
for module in (auth, dashboard, members, rules, mall, admin):
    router.include_router(module.router)
