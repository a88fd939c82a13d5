"""The shortcuts the order and read paths take stay correct: cached settings follow changes,
balances written in one statement per batch stay equal to the ledger, lost races still raise."""

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from loyalty.db import engine as engine_module
from loyalty.db.bulk import Writes
from loyalty.db.engine import Database
from loyalty.members.models import Member
from loyalty.orders.models import Order
from loyalty.programs.service import current_program
from tests.conftest import START, assert_balanced


def test_a_program_setting_changed_applies_to_the_very_next_order(api, session):
    member = api.member()
    assert api.order(member["id"], 10_000, START)["points"]["awarded"] == 100
    assert api.client.patch("/v1/program", json={"earn_points": 3}, headers=api.headers).is_success
    assert api.order(member["id"], 10_000, START)["points"]["awarded"] == 300
    assert_balanced(session)


def test_a_new_rule_applies_to_the_very_next_order(api, session):
    member = api.member()
    api.order(member["id"], 10_000, START)
    rule = {"name": "全场加 7 分", "kind": "bonus", "points": 7, "status": "enabled"}
    api.ok("/v1/rules", rule, 201)
    assert api.order(member["id"], 10_000, START)["points"]["awarded"] == 107


def test_the_cached_program_is_a_session_s_own_instance(db):
    with db.transaction() as session:
        first = current_program(session, 1)
        second = current_program(session, 1)
        assert first is second
    with db.transaction() as session:
        assert current_program(session, 1) is not first


def test_a_batch_of_many_orders_of_few_members_keeps_every_balance_exact(api, session):
    members = [api.member() for _ in range(3)]
    orders = [
        api.order_body(members[i % 3]["id"], 1_000 + 100 * i, START, order_id=f"B-{i}")
        for i in range(120)
    ]
    results = api.ok("/v1/orders/batch", {"orders": orders})["results"]
    assert [r["status"] for r in results] == [201] * 120
    earned = {m["id"]: 0 for m in members}
    for body in orders:
        earned[body["member_id"]] += body["amount"] // 100
    for m in members:
        assert api.points(m["id"])["available"] == earned[m["id"]]
    last = results[-1]["body"]
    assert last["member_points"]["available"] == earned[last["member_id"]]
    assert_balanced(session)


def test_an_order_id_taken_meanwhile_fails_like_any_unique_key(api, session):
    member = api.member()
    api.order(member["id"], 1_000, START, order_id="TAKEN")
    taken = session.query(Order).filter_by(order_id="TAKEN").one()
    row = {c.name: getattr(taken, c.name) for c in Order.__table__.columns if c.name != "id"}
    writes = Writes()
    writes.insert(Order, [row])
    with pytest.raises(IntegrityError), session.begin_nested():
        writes.send(session)


def test_balances_written_in_one_statement_leave_a_member_s_other_changes_to_the_flush(
    api, session
):
    """``Writes.update`` marks what it wrote as saved; a change it did not write still is."""
    first, second = (api.member() for _ in range(2))
    one, two = (session.get(Member, m["id"]) for m in (first, second))
    one.points_available, two.points_available = 40, 50
    two.name = "王小二"  # changed too, but not among the columns written
    writes = Writes()
    writes.update(Member, [one, two], ("points_available",))
    writes.send(session)
    assert not session.dirty
    session.expire_all()
    assert (one.points_available, two.points_available, two.name) == (40, 50, "王小二")


@pytest.fixture
def pinging_db(database, monkeypatch):
    """A second database handle whose idle connections are pinged at once (PostgreSQL)."""
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)
    db = Database(database.engine.url.render_as_string(hide_password=False), pool_size=1)
    yield db
    db.dispose()


def _kill(database, pid):
    with database.engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    time.sleep(0.1)


@pytest.mark.postgres_only
def test_a_pooled_connection_that_died_while_idle_is_replaced(database, pinging_db):
    with pinging_db.engine.connect() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    _kill(database, pid)
    with pinging_db.engine.connect() as conn:
        assert conn.scalar(text("SELECT 1")) == 1


@pytest.mark.postgres_only
def test_a_kept_read_connection_that_died_is_replaced(database, pinging_db):
    """Balance reads keep one connection per thread; the server dropping it costs no read."""
    with pinging_db.snapshot() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    with pinging_db.snapshot() as conn:
        assert conn.scalar(text("SELECT pg_backend_pid()")) == pid  # kept, not pooled
    _kill(database, pid)
    with pinging_db.snapshot() as conn:
        assert conn.scalar(text("SELECT pg_backend_pid()")) != pid
