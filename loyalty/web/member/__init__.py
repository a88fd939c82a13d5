"""The members' mobile page (``/m``): sign in with an SMS code, points, rewards, check-in."""

from fastapi import APIRouter

from loyalty.web.member import auth, lotteries, pages, rewards

router = APIRouter(include_in_schema=False)
for module in (auth, pages, rewards, lotteries):
    router.include_router(module.router)
