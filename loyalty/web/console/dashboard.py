"""Console: the dashboard (to be built)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from loyalty.users.service import ConsoleIdentity
from loyalty.web.console.deps import signed_in
from loyalty.web.templating import render

router = APIRouter()


@router.get("/console")
def home(request: Request, who: Annotated[ConsoleIdentity, Depends(signed_in)]) -> Response:
    if not who.can("dashboard.view"):
        return RedirectResponse("/console/counter", status_code=303)
    return render(request, "console/dashboard.html")
