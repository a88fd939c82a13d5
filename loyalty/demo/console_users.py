"""Console users of the demo chain: one per role, sharing a fresh password each start."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select

from loyalty.db.engine import Database
from loyalty.stores.models import Store
from loyalty.users.service import create_user, find_user, set_password

# user name, display name, role, works at the first store
DEMO_USERS = (
    ("admin", "王总 (owner)", "owner", False),
    ("hq", "李娜 (HQ)", "hq", False),
    ("analyst", "赵敏 (analyst)", "analyst", False),
    ("manager", "陈店长 (manager)", "manager", True),
    ("clerk", "小刘 (clerk)", "clerk", True),
)


def demo_console_users(db: Database, program_id: int, now: datetime) -> tuple[str, str]:
    """Create (or reset) the demo users; returns the first store's code and the password."""
    password = secrets.token_urlsafe(9)
    with db.transaction() as session:
        store = session.scalar(
            select(Store).where(Store.program_id == program_id).order_by(Store.id).limit(1)
        )
        store_codes = [store.code] if store else []
        for username, display, role, at_store in DEMO_USERS:
            user = find_user(session, program_id, username)
            if user is None:
                stores = store_codes if at_store else []
                create_user(session, program_id, username, password, role, now, display, stores)
            else:
                set_password(session, user, password)
    return (store_codes[0] if store_codes else ""), password
