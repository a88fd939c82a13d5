"""The ASGI app for ``uvicorn loyalty.api.main:app``."""

from loyalty.api.app import create_app
from loyalty.runtime import tune_gc

app = create_app()
tune_gc()
