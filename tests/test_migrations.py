"""The migrations build exactly the schema the models describe, and keep the data they find."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import loyalty.db.models  # noqa: F401
from loyalty.api.app import create_app
from loyalty.db.base import Base
from loyalty.db.migrate import downgrade, upgrade
from loyalty.ledger.verify import verify
from loyalty.programs.service import ensure_program
from tests.conftest import START, Clock
from tests.factories import Api, key_for

TABLES = ("orders", "refunds", "points_entries", "points_lots", "points_allocations", "members")


def test_models_and_migrations_agree(database):
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _counts(db):
    with db.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def _trade(db):
    """A day at a store, written through the API on the schema of the time."""
    with db.transaction() as session:
        ensure_program(session, START)
        token = key_for(session)
    api = Api(TestClient(create_app(db, clock=Clock().now)), token)
    api.store("SH001")
    member = api.member()["id"]
    api.order(member, 10_000, START, order_id="A-1", store_code="SH001")
    api.order(member, 5_000, START, order_id="A-2", store_code="SH001")
    assert api.refund("A-1", "R-1", 4_000).status_code == 201
    assert api.hold(member, 30).status_code == 201
    return member


def test_dropping_the_hot_tables_keys_keeps_every_row(empty_database):
    """0011 rebuilds the journal, lots, orders and outbox on SQLite (to drop their keys on
    programs and stores) while refunds and allocations name them: every row stays, both ways,
    and the key on the member still holds."""
    db = empty_database
    upgrade(db.engine, "0010")
    member = _trade(db)
    before = _counts(db)
    assert before["refunds"] == 1 and before["points_allocations"] >= 1

    upgrade(db.engine)
    assert _counts(db) == before
    with db.transaction() as session:
        assert verify(session) == []
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO points_lots (program_id, member_id, source_type, points, remaining,"
                " state, earned_at) VALUES (1, :m, 'order', 1, 1, 'available', :t)"
            ),
            {"m": member + 1_000, "t": START},
        )

    downgrade(db.engine, "0010")
    assert _counts(db) == before
    upgrade(db.engine)
    assert _counts(db) == before
