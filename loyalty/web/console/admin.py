"""Console: administration. Stores, API keys, console users, program settings, audit log.

Each page lives in its own module (``admin_stores``, ``admin_apikeys``, ``admin_users``,
``admin_settings``, ``admin_audit``); this router gathers them for the console.
"""

from fastapi import APIRouter

from loyalty.web.console import (
    admin_apikeys,
    admin_audit,
    admin_settings,
    admin_stores,
    admin_users,
)

router = APIRouter()
for module in (admin_stores, admin_apikeys, admin_users, admin_settings, admin_audit):
    router.include_router(module.router)
