"""The earning engine's figures: evaluation with 50 active rules, a back-test and the tiers job
over a year of seeded orders (one per seeded ledger entry: 1,000,000 by default)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from rich.console import Console
from sqlalchemy import text

from loyalty.bench.report import Figure, Target
from loyalty.bench.sql import AGE_SECONDS, MEMBER, Dialect
from loyalty.db.engine import Database
from loyalty.programs.service import get_program
from loyalty.rules.backtest import backtest
from loyalty.rules.engine import EarnSettings, MemberSnapshot, OrderFacts, OrderLine, evaluate
from loyalty.rules.service import create_rule, update_rule
from loyalty.rules.spec import RuleSpec, parse_rule
from loyalty.tiers.jobs import evaluate_tiers
from loyalty.tiers.service import save_tier

CHUNK = 100_000
CONDITIONS = (
    {"weekdays": [3]},
    {"tags": ["new_product"]},
    {"stores": ["S1", "S2"]},
    {"min_amount": 5000},
    {"birthday": "month"},
)


def fifty_definitions() -> list[dict[str, Any]]:
    """A mix of multipliers, bonuses and per-amount rules under every kind of condition."""
    return [
        {
            "name": f"rule {i}",
            "kind": ("multiplier", "bonus", "per_amount")[i % 3],
            "factor": "1.5",
            "points": 5,
            "per_amount": 1000,
            "stacking": ("multiply", "add", "best_of")[i % 3],
            "conditions": CONDITIONS[i % 5],
        }
        for i in range(50)
    ]


def fifty_rules() -> list[RuleSpec]:
    return [parse_rule(d, id=i + 1) for i, d in enumerate(fifty_definitions())]


@contextmanager
def fifty_enabled(db: Database, program_id: int) -> Iterator[None]:
    """Fifty rules enabled in the program (through the rules service), disabled afterwards."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        program = get_program(session, program_id)
        ids = [
            create_rule(
                session,
                program,
                d,
                status="enabled",
                active_from=None,
                active_until=None,
                actor="bench",
                now=now,
            ).id
            for d in fifty_definitions()
        ]
    try:
        yield
    finally:
        with db.transaction() as session:
            program = get_program(session, program_id)
            for rule_id in ids:
                update_rule(session, program, rule_id, {"status": "disabled"}, "bench", now)


def evaluation() -> list[Figure]:
    """One order (two lines, a Silver member in her birthday month, on a Wednesday) through
    50 rules, all of which apply: the worst case of a busy campaign calendar."""
    facts = OrderFacts(
        "o",
        12_345,
        datetime(2026, 3, 4, 4, tzinfo=UTC),
        "S1",
        ("mall",),
        "store",
        "wechat",
        (OrderLine("A", 1, 5_000, "tea", ("new_product",)), OrderLine("B", 2, 7_345, "food")),
    )
    member = MemberSnapshot(
        id=1,
        tier_code="silver",
        tier_name="银卡",
        tier_multiplier=Fraction(6, 5),
        birthday=datetime(1990, 3, 1).date(),
    )
    rules, settings, n = fifty_rules(), EarnSettings(), 20_000
    awards = len(evaluate(facts, member, settings, rules).awards)
    began = time.perf_counter()
    for _ in range(n):
        evaluate(facts, member, settings, rules)
    ms = (time.perf_counter() - began) / n * 1000
    return [
        Figure(
            "evaluate, 50 active rules",
            ms,
            "ms/order",
            Target(0.5, below=True),
            f"{awards} awards per order; pure function, one core",
        )
    ]


def seed_orders(db: Database, members: int, count: int, console: Console) -> None:
    """``count`` orders over the past year for the seeded members, set-based in chunks."""
    d = Dialect(db.dialect)
    prefix, source = d.source()
    sql = text(f"""{prefix} INSERT INTO orders (program_id, order_id, member_id, store_id,
        channel, occurred_at, amount, refunded_amount, points_awarded, points_reversed,
        request_hash, response, created_at)
        SELECT 1, 'BT-' || g, {MEMBER}, NULL, 'store', {d.at(AGE_SECONDS)},
        1000 + (g * 7919) % 30000, 0, 10, 0, 'bench', {d.json("'{}'")}, {d.at("0")}
        FROM {source}""")
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM orders WHERE order_id LIKE 'BT-%'"))
    for lo in range(1, count + 1, CHUNK):
        with db.engine.begin() as conn:
            conn.execute(
                sql,
                {
                    "lo": lo,
                    "hi": min(lo + CHUNK - 1, count),
                    "members": members,
                    "t0": d.t0(datetime.now(UTC)),
                },
            )
        console.print(f"  orders seeded: {min(lo + CHUNK - 1, count):,}", end="\r")
    if d.postgres:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE orders"))


def backtest_and_tiers(db: Database, members: int, orders: int, console: Console) -> list[Figure]:
    seed_orders(db, members, orders, console)
    now = datetime.now(UTC)
    wednesday = parse_rule(
        {
            "name": "周三双倍积分",
            "kind": "multiplier",
            "factor": "2",
            "conditions": {"weekdays": [3]},
        }
    )
    with db.reader() as session:
        began = time.perf_counter()
        report = backtest(
            session,
            get_program(session, 1),
            wednesday,
            now - timedelta(days=366),
            now + timedelta(seconds=1),
        )
        seconds = time.perf_counter() - began
    figures = [
        Figure(
            "back-test a year of orders",
            seconds,
            "s",
            Target(60, below=True),
            f"{report['orders_scanned']:,} orders replayed, {report['orders_affected']:,} affected",
        )
    ]
    return [*figures, _tiers(db, members, now)]


def _tiers(db: Database, members: int, now: datetime) -> Figure:
    with db.transaction() as session:
        program = get_program(session, 1)
        save_tier(
            session,
            program,
            {
                "code": "silver",
                "name": "银卡",
                "rank": 1,
                "metric": "spend",
                "threshold": 200_000,
                "window_days": 30,
                "multiplier": "1.2",
            },
            now,
        )
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE members SET tier_code = 'silver' WHERE id % 10 = 0"))
    began = time.perf_counter()
    result = evaluate_tiers(db.transaction, now, now)
    seconds = time.perf_counter() - began
    return Figure(
        f"tiers job, {members:,} members",
        seconds,
        "s",
        Target(60, below=True),
        f"{result.members:,} tier changes written",
    )
