"""Build the demo chain by replaying a planned year through the services the API uses.

Simulated time drives everything: members register at their registration time, orders are
posted with ``post_orders`` in chronological batches (one transaction each), refunds, points
paid at the till and manual adjustments happen at their own moments, and the vest and expiry
jobs run at every month end with ``as_of`` that month end. Nothing is written around the
services, so the ledger balances exactly as it would in production.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db.engine import Database
from loyalty.demo.history import TZ, Plan, PlannedEvent, PlannedOrder, plan_history
from loyalty.demo.population import PROGRAM_NAME, STORES, Person, people
from loyalty.demo.programme import configure_earning, stock_the_mall
from loyalty.jobs.registry import JOBS
from loyalty.ledger.operations import adjust, capture, hold_points, void
from loyalty.members.service import Registration, lock_member, register
from loyalty.orders.schemas import OrderIn, RefundIn
from loyalty.orders.service import RefundRequest, fingerprint, post_orders, refund_order
from loyalty.programs.models import Program
from loyalty.programs.service import ensure_program, get_program
from loyalty.stores.models import Store
from loyalty.stores.service import create_store
from loyalty.tasks.service import on_registration

DEFAULT_SEED = 20240601
BATCH = 500
HISTORY = timedelta(days=365)
STAFF = "console:总部运营 王敏"
TILL = "apikey:pos"

Tick = Callable[[int, str], None]


class DemoError(RuntimeError):
    """The replay met an answer the plan rules out: a bug, not bad luck."""


def build_demo(
    db: Database,
    now: datetime,
    *,
    members: int = 5000,
    seed: int = DEFAULT_SEED,
    on_progress: Tick | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> tuple[int, Counter[str]]:
    """Plan a year ending ``now`` for ``members`` people, then replay it.

    Returns the program id and what was done (``orders``, ``refunds``, ``holds``, ...).
    ``on_plan(orders_planned)`` then ``on_progress(orders_done, description)`` follow it.
    """
    rnd = random.Random(seed)
    start = now - HISTORY
    plan = plan_history(rnd, people(rnd, members, start, now), start, now)
    if on_plan:
        on_plan(len(plan.orders))
    program_id = setup_chain(db, plan.people[0].registered_at - timedelta(days=30))
    replay = Replay(db, program_id, plan, on_progress or (lambda n, d: None))
    replay.run(now)
    with db.transaction() as session:
        stock_the_mall(session, get_program(session, program_id), now)
    return program_id, replay.done


def setup_chain(db: Database, opened_at: datetime) -> int:
    """Name the program after the demo brand and open its stores."""
    with db.transaction() as session:
        program = ensure_program(session, opened_at)
        program.name = PROGRAM_NAME
        for s in STORES:
            create_store(
                session,
                program.id,
                code=s.code,
                name=s.name,
                channel=s.channel,
                region=s.city,
                groups=[s.group],
                now=opened_at,
            )
        configure_earning(session, program, opened_at)
        return program.id


def month_batches(orders: list[PlannedOrder], size: int) -> Iterator[list[PlannedOrder]]:
    """Chronological batches of at most ``size`` orders, never spanning two local months."""
    batch: list[PlannedOrder] = []
    for o in orders:
        if batch and (len(batch) == size or _month(o.at) != _month(batch[-1].at)):
            yield batch
            batch = []
        batch.append(o)
    if batch:
        yield batch


def _month(at: datetime) -> tuple[int, int]:
    local = at.astimezone(TZ)
    return local.year, local.month


def month_start(at: datetime) -> datetime:
    """The first instant of ``at``'s local month."""
    local = at.astimezone(TZ)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(TZ)


class Replay:
    """Walks the plan in time order, one transaction per batch of orders."""

    def __init__(self, db: Database, program_id: int, plan: Plan, tick: Tick) -> None:
        self.db, self.program_id, self.plan, self.tick = db, program_id, plan, tick
        self.member_ids: dict[int, int] = {}
        self.referral_codes: dict[int, str] = {}
        self.store_ids: dict[str, int] = {}
        self.next_person = self.next_event = 0
        self.done: Counter[str] = Counter()

    def run(self, end: datetime) -> None:
        """Batches of orders, each followed by what happened meanwhile; month-end jobs."""
        batches = list(month_batches(self.plan.orders, BATCH))
        for i, batch in enumerate(batches):
            self.step(batch[-1].at, batch)
            following = batches[i + 1][0].at if i + 1 < len(batches) else end
            if _month(following) != _month(batch[-1].at):
                self.jobs(month_start(following))
        self.step(end, [])
        self.jobs(end)

    def step(self, until: datetime, batch: list[PlannedOrder]) -> None:
        with self.db.transaction() as session:
            program = get_program(session, self.program_id)
            if not self.store_ids:
                self.store_ids = _store_ids(session, program.id)
            self.register_until(session, program, until)
            self.post(session, program, batch, until)
            self.events_until(session, program, until)
        self.tick(len(batch), f"{self.done['members']:,} members · {until.astimezone(TZ):%Y-%m}")

    def register_until(self, session: Session, program: Program, until: datetime) -> None:
        """Everyone who joined by ``until`` registers at their own moment, as ``POST
        /v1/members`` does it: the registration, then its rewards (task, referrers)."""
        people = self.plan.people
        while self.next_person < len(people) and people[self.next_person].registered_at <= until:
            p = people[self.next_person]
            member = register(session, program.id, self.registration(p), p.registered_at)
            on_registration(session, program, member, p.registered_at)
            self.member_ids[p.index], self.referral_codes[p.index] = member.id, member.referral_code
            self.next_person += 1
            self.done["members"] += 1

    def registration(self, p: Person) -> Registration:
        identifiers = [("wechat_openid", p.openid)] if p.openid else []
        identifiers += [("card", p.card)] if p.card else []
        referrer = self.referral_codes.get(p.referred_by) if p.referred_by is not None else None
        return Registration(
            phone=p.phone,
            name=p.name,
            birthday=p.birthday,
            gender=p.gender,
            identifiers=identifiers,
            store_code=p.home,
            referral_code=referrer,
            registered_at=p.registered_at,
        )

    def post(
        self, session: Session, program: Program, batch: list[PlannedOrder], now: datetime
    ) -> None:
        """The batch through ``post_orders``, built exactly as ``POST /v1/orders/batch``."""
        if not batch:
            return
        requests = [
            OrderIn(
                order_id=o.order_id,
                member_id=self.member_ids[o.person],
                store_code=o.store_code,
                occurred_at=o.at,
                amount=o.amount,
                payment_method=o.payment_method,
            ).to_request(o.store_code)
            for o in batch
        ]
        failed = [o for o in post_orders(session, program, requests, now) if o.error]
        if failed:
            raise DemoError(f"order {failed[0].order_id}: {failed[0].error}")
        self.done["orders"] += len(batch)

    def events_until(self, session: Session, program: Program, until: datetime) -> None:
        events = self.plan.events
        while self.next_event < len(events) and events[self.next_event].at <= until:
            event = events[self.next_event]
            handler = {"refund": self.refund, "hold": self.hold, "adjust": self.adjust}
            handler[event.kind](session, program, event)
            self.next_event += 1

    def refund(self, session: Session, program: Program, e: PlannedEvent) -> None:
        assert e.order_id is not None
        body = RefundIn(refund_id=f"RF-{e.order_id}", amount=e.amount).model_dump(mode="json")
        req = RefundRequest(
            refund_id=body["refund_id"],
            amount=e.amount,
            request_hash=fingerprint([e.order_id, body]),
        )
        refund_order(session, program, e.order_id, req, e.at, TILL)
        self.done["refunds"] += 1

    def hold(self, session: Session, program: Program, e: PlannedEvent) -> None:
        """Points paid at the till (积分抵现), in hundreds, if the member has them."""
        member_id = self.member_ids[e.person]
        available = lock_member(session, program.id, member_id).points_available
        points = min(e.amount, available // 100 * 100)
        if points <= 0 or e.order_id is None or e.store_code is None:
            return
        store_id = self.store_ids[e.store_code]
        hold = hold_points(session, program, member_id, points, e.order_id, None, store_id, e.at)
        if e.note == "void":
            void(session, program, hold.id, store_id, e.at + timedelta(seconds=40))
            self.done["holds voided"] += 1
            return
        capture(session, program, hold.id, None, store_id, e.at + timedelta(seconds=20))
        self.done["holds captured"] += 1

    def adjust(self, session: Session, program: Program, e: PlannedEvent) -> None:
        """A manual correction; a debit only when the member can cover it."""
        member_id = self.member_ids[e.person]
        if (
            e.amount < 0
            and lock_member(session, program.id, member_id).points_available < -e.amount
        ):
            return
        expires_at = e.at + timedelta(days=30) if e.note == "生日礼遇" else None
        adjust(session, program, member_id, e.amount, e.note, expires_at, STAFF, e.at)
        self.done["adjustments"] += 1

    def jobs(self, as_of: datetime) -> None:
        """What ``loyalty worker`` would have done at this moment: every scheduled job (vest,
        expire, release holds, tiers, ...), as of then."""
        for job, _ in JOBS.values():
            job(self.db, as_of, as_of, None)
        self.done["job runs"] += 1


def _store_ids(session: Session, program_id: int) -> dict[str, int]:
    rows = session.execute(select(Store.code, Store.id).where(Store.program_id == program_id))
    return {code: store_id for code, store_id in rows}
