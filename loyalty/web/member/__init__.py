"""The members' mobile page (``/m``): sign in with an SMS code, points, rewards, check-in."""

from fastapi import APIRouter

from loyalty.web.member import pages

router = APIRouter(include_in_schema=False)
router.include_router(pages.router)
