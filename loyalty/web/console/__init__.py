"""The operators' console: one module per area, each with its own router."""

from fastapi import APIRouter

from loyalty.web.console import (
    admin,
    auth,
    counter,
    coupons,
    dashboard,
    lotteries,
    mall,
    members,
    redemptions,
    rules,
)

router = APIRouter(include_in_schema=False)
for module in (
    auth,
    dashboard,
    members,
    rules,
    mall,
    redemptions,
    counter,
    coupons,
    lotteries,
    admin,
):
    router.include_router(module.router)
