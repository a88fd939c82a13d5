"""The members' mobile page (``/m``): sign in with an SMS code, points, rewards and my
redemptions, check-in, lotteries."""

from fastapi import APIRouter

from loyalty.web.member import auth, lotteries, pages, redemptions, rewards

router = APIRouter(include_in_schema=False)
for module in (auth, pages, rewards, redemptions, lotteries):
    router.include_router(module.router)
