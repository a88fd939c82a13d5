"""The ASGI app for ``uvicorn loyalty.api.main:app``."""

from loyalty.api.app import create_app

app = create_app()
