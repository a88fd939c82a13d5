"""Bring a database to the current schema with a default program."""

from __future__ import annotations

from loyalty.db.base import utcnow
from loyalty.db.engine import Database
from loyalty.db.migrate import upgrade
from loyalty.programs.service import ensure_program


def initialise(db: Database) -> int:
    upgrade(db.engine)
    with db.transaction() as session:
        return ensure_program(session, utcnow()).id
