"""Property: any sequence of earn, spend, hold, refund, expire, vest, adjust and merge keeps
cache = entries = lots (+ debt) for every member, and never lets a lot go negative."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from loyalty.errors import LoyaltyError
from loyalty.ledger.jobs import expire_lots, release_holds, vest_lots
from loyalty.ledger.operations import adjust, capture, hold_points, void
from loyalty.members.models import Member
from loyalty.members.service import Registration, merge, register
from loyalty.orders.service import OrderRequest, RefundRequest, post_orders, refund_order
from loyalty.programs.models import Program
from tests.conftest import START

MEMBERS = 3
member_ix = st.integers(0, MEMBERS - 1)
ops = st.one_of(
    st.tuples(st.just("earn"), member_ix, st.integers(0, 50_000), st.integers(0, 500)),
    st.tuples(st.just("spend"), member_ix, st.integers(1, 400), st.booleans()),
    st.tuples(st.just("hold"), member_ix, st.integers(1, 300), st.booleans()),
    st.tuples(st.just("close"), st.integers(0, 20), st.booleans(), st.integers(0, 300)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 50_000), st.booleans()),
    st.tuples(st.just("expire"), st.integers(0, 800), st.just(0), st.just(0)),
    st.tuples(st.just("vest"), st.integers(0, 10), st.just(0), st.just(0)),
    st.tuples(st.just("adjust"), member_ix, st.integers(-300, 300), st.just(0)),
    st.tuples(st.just("merge"), member_ix, member_ix, st.just(0)),
)


class World:
    def __init__(self, session, db, pending_days: int) -> None:
        self.session, self.db = session, db
        self.program = session.scalar(select(Program))
        self.program.pending_days = pending_days
        self.members = [
            register(session, self.program.id, Registration(), START).id for _ in range(MEMBERS)
        ]
        self.orders: list[tuple[str, int]] = []
        self.holds: list[int] = []
        self.now = START

    def run(self, op: tuple) -> None:
        name, a, b, c = op
        try:
            with self.session.begin_nested():
                getattr(self, name)(a, b, c)
        except LoyaltyError:
            pass  # refused operations (insufficient points, closed holds...) change nothing

    def earn(self, m, amount, days_ago):
        order_id = f"O{len(self.orders)}"
        req = OrderRequest(
            order_id=order_id,
            member_id=self.members[m],
            amount=amount,
            occurred_at=self.now - timedelta(days=days_ago),
            request_hash=order_id,
        )
        outcome = post_orders(self.session, self.program, [req], self.now)[0]
        if outcome.error is None:
            self.orders.append((order_id, amount))

    def spend(self, m, points, partial):
        hold = hold_points(
            self.session, self.program, self.members[m], points, "P", 60, None, self.now
        )
        capture(
            self.session, self.program, hold.id, points // 2 if partial else None, None, self.now
        )

    def hold(self, m, points, _):
        self.holds.append(
            hold_points(
                self.session, self.program, self.members[m], points, "H", 3600, None, self.now
            ).id
        )

    def close(self, i, do_capture, points):
        if not self.holds:
            return
        hold_id = self.holds[i % len(self.holds)]
        if do_capture:
            capture(self.session, self.program, hold_id, points, None, self.now)
        else:
            void(self.session, self.program, hold_id, None, self.now)

    def refund(self, i, amount, _):
        if not self.orders:
            return
        order_id, _total = self.orders[i % len(self.orders)]
        refund_order(
            self.session,
            self.program,
            order_id,
            RefundRequest(f"R{order_id}-{amount}-{self.now}", amount, "h"),
            self.now,
        )

    def expire(self, days, *_):
        self.now += timedelta(days=days)
        expire_lots(self.db.transaction, self.now, self.now)
        release_holds(self.db.transaction, self.now, self.now)

    def vest(self, days, *_):
        self.now += timedelta(days=days)
        vest_lots(self.db.transaction, self.now, self.now)

    def adjust(self, m, points, _):
        adjust(
            self.session, self.program, self.members[m], points, "property", None, "test", self.now
        )

    def merge(self, a, b, _):
        merge(self.session, self.program.id, self.members[a], self.members[b], self.now, "test")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(ops, min_size=1, max_size=25), pending_days=st.sampled_from([0, 3]))
def test_any_sequence_keeps_the_ledger_balanced(db, steps, pending_days):
    from loyalty.ledger.verify import verify

    with db.writer() as session:
        world = World(session, db, pending_days)
        for step in steps:
            world.run(step)
            session.flush()
            assert verify(session) == [], step
        for member in session.scalars(select(Member)):
            assert member.points_debt >= 0
            assert member.points_available >= 0 or member.points_debt > 0
        session.rollback()
