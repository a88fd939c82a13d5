"""Is there a demo in this database, what is in it, and how to start it over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

import loyalty.db.models  # noqa: F401  (every table in the metadata, for ``wipe``)
from loyalty.api.schemas import EARLIEST
from loyalty.db.base import Base
from loyalty.db.engine import Database
from loyalty.demo.population import PROGRAM_NAME
from loyalty.ledger.models import Entry, Hold
from loyalty.ledger.queries import points_summary
from loyalty.members.models import Member
from loyalty.orders.models import Order, Refund
from loyalty.programs.service import DEFAULT_CODE, get_program, get_program_by_code
from loyalty.stores.models import Store


@dataclass(frozen=True)
class DemoSummary:
    stores: int
    members: int
    orders: int
    refunds: int
    holds_captured: int
    adjustments: int
    issued: int
    redeemed: int
    expired: int
    outstanding: int
    sample_phone: str | None


def demo_state(db: Database) -> str:
    """``empty`` (nothing yet), ``demo`` (a demo was built here) or ``other`` (real data)."""
    with db.reader() as session:
        program = get_program_by_code(session, DEFAULT_CODE)
        if program is not None and program.name == PROGRAM_NAME:
            return "demo"
        used = _count(session, select(func.count()).select_from(Member))
        used += _count(session, select(func.count()).select_from(Store))
    return "other" if used else "empty"


def wipe(db: Database) -> None:
    """Delete every row, programs included (``initialise`` makes a fresh one with its defaults).

    Only ever called on a database that holds the demo and nothing else.
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.transaction() as session:
        if db.dialect == "postgresql":
            session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                session.execute(text(f"DELETE FROM {name}"))


def summarise(db: Database, program_id: int, now: datetime) -> DemoSummary:
    """Counts and the points story of the whole history, as the points-summary report tells it."""
    with db.reader() as session:
        program = get_program(session, program_id)
        points = points_summary(session, program, EARLIEST, now + timedelta(seconds=1))
        return DemoSummary(
            stores=_count(session, select(func.count()).select_from(Store)),
            members=_count(session, select(func.count()).select_from(Member)),
            orders=_count(session, select(func.count()).select_from(Order)),
            refunds=_count(session, select(func.count()).select_from(Refund)),
            holds_captured=_count(
                session, select(func.count()).select_from(Hold).where(Hold.status == "captured")
            ),
            adjustments=_count(
                session, select(func.count()).select_from(Entry).where(Entry.kind == "adjust")
            ),
            issued=int(points["issued"]),
            redeemed=int(points["redeemed"]),
            expired=int(points["expired"]),
            outstanding=int(points["outstanding"]),
            sample_phone=session.scalar(
                select(Member.phone).order_by(Member.lifetime_earned.desc()).limit(1)
            ),
        )


def _count(session: Session, stmt: Any) -> int:
    return int(session.scalar(stmt) or 0)
