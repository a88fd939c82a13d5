"""``loyalty demo``: a small chain with a year of history, built through the services."""

import random
from datetime import timedelta

import phonenumbers
from sqlalchemy import func, select
from typer.testing import CliRunner

from loyalty.cli.main import app as cli
from loyalty.demo.generate import build_demo
from loyalty.demo.history import TZ, plan_history
from loyalty.demo.population import STORES, people
from loyalty.demo.summary import demo_state, summarise
from loyalty.ledger.models import Entry
from loyalty.members.models import Member
from loyalty.orders.models import Order
from loyalty.stores.models import Store
from tests.conftest import START, assert_balanced


def test_a_small_demo_has_stores_members_orders_and_a_balanced_ledger(db, session):
    program_id, done = build_demo(db, START, members=200, seed=7)
    summary = summarise(db, program_id, START)
    assert summary.stores == len(STORES) == 20
    assert summary.members == done["members"] == 200
    assert summary.orders == done["orders"] > 1000
    assert summary.refunds > 0 and summary.holds_captured > 0 and summary.adjustments > 0
    assert summary.issued > summary.outstanding > 0 and summary.expired > 0
    kinds = set(session.scalars(select(Entry.kind).distinct()))
    assert {"earn", "reverse", "redeem", "adjust", "expire"} <= kinds
    last = session.scalar(select(func.max(Order.occurred_at)))
    assert START - timedelta(days=2) < last <= START
    assert demo_state(db) == "demo"
    assert_balanced(session)


def test_the_same_seed_gives_the_same_chain():
    start, end = START - timedelta(days=365), START

    def plan(seed):
        rnd = random.Random(seed)
        return plan_history(rnd, people(rnd, 50, start, end), start, end)

    assert plan(3) == plan(3) != plan(4)
    assert len(plan(3).orders) > 100


def test_demo_people_look_real():
    end = START
    crowd = people(random.Random(1), 300, end - timedelta(days=365), end)
    for p in crowd:
        assert phonenumbers.is_valid_number(phonenumbers.parse(p.phone, "CN"))
        assert 2 <= len(p.name) <= 3
    assert len({p.phone for p in crowd}) == 300
    plan = plan_history(random.Random(2), crowd, end - timedelta(days=365), end)
    hours = [o.at.astimezone(TZ).hour for o in plan.orders]
    meals = sum(1 for h in hours if h in (11, 12, 13, 17, 18, 19, 20))
    assert meals > len(hours) / 2
    amounts = [o.amount for o in plan.orders]
    assert min(amounts) >= 1_200 and max(amounts) <= 30_080


def test_the_command_builds_once_then_serves_again_with_a_fresh_key(db, session, monkeypatch):
    monkeypatch.setattr("loyalty.cli.demo.open_db", lambda: db)
    monkeypatch.setattr("loyalty.cli.demo.initialise", lambda _db: 1)
    runner = CliRunner()
    first = runner.invoke(cli, ["demo", "--members", "60", "--no-serve", "--seed", "5"])
    assert first.exit_code == 0, first.output
    assert "http://127.0.0.1:8000/docs" in first.output
    key = first.stdout.strip().splitlines()[-1]
    assert key.startswith("lk_")
    members = session.scalar(select(func.count()).select_from(Member))
    again = runner.invoke(cli, ["demo", "--no-serve"])
    assert again.exit_code == 0 and "already holds the demo" in again.output
    assert again.stdout.strip().splitlines()[-1] != key
    assert session.scalar(select(func.count()).select_from(Member)) == members
    assert session.scalar(select(func.count()).select_from(Store)) == 20
    assert_balanced(session)


def test_reset_builds_the_demo_anew(db, session, monkeypatch):
    monkeypatch.setattr("loyalty.cli.demo.open_db", lambda: db)
    monkeypatch.setattr("loyalty.cli.demo.initialise", lambda _db: 1)
    runner = CliRunner()
    assert runner.invoke(cli, ["demo", "--members", "40", "--no-serve"]).exit_code == 0
    again = runner.invoke(cli, ["demo", "--members", "20", "--no-serve", "--reset"])
    assert again.exit_code == 0, again.output
    assert session.scalar(select(func.count()).select_from(Member)) == 20
    assert session.scalar(select(func.count()).select_from(Store)) == 20
    assert_balanced(session)
