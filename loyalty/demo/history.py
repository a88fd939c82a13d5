"""A year of the demo chain's business: orders, refunds, points paid at the till, corrections.

Pure, like ``population``: the plan is made first, then replayed through the services in
time order by ``generate``. Times follow a restaurant's day (lunch and dinner peaks, a tea
hump in the afternoon), weekends are busier, and amounts go from a ¥15 tea to a ¥300 dinner.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from loyalty.demo.population import REMOTE_CODES, STORES, Person

TZ = ZoneInfo("Asia/Shanghai")
WEEKDAY_WEIGHT = (0.85, 0.85, 0.9, 0.95, 1.15, 1.35, 1.25)  # Monday first
PAYMENTS: dict[str, float] = {"wechat": 55, "alipay": 30, "card": 7, "cash": 5, "stored_value": 3}


@dataclass(frozen=True)
class Slot:
    """A part of the day: when it peaks (local hours) and what people spend (yuan)."""

    start: float
    peak: float
    end: float
    weight: float
    low: int
    high: int


SLOTS = (
    Slot(7.5, 8.3, 9.8, 5, 12, 35),  # breakfast
    Slot(11.0, 12.2, 13.8, 34, 28, 95),  # lunch
    Slot(14.3, 15.5, 17.2, 14, 15, 48),  # afternoon tea
    Slot(17.3, 18.8, 20.8, 38, 60, 300),  # dinner
    Slot(20.8, 21.5, 22.8, 9, 25, 120),  # late snack
)


@dataclass(frozen=True)
class PlannedOrder:
    at: datetime
    order_id: str
    person: int
    store_code: str
    amount: int
    payment_method: str


@dataclass(frozen=True)
class PlannedEvent:
    """Something done to a member after an order: ``refund``, ``hold`` or ``adjust``.

    ``amount`` is the refund's fen or the points wanted (negative: an adjustment debit).
    """

    at: datetime
    kind: str
    person: int
    order_id: str | None
    amount: int
    note: str = ""
    store_code: str | None = None


def local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), TZ).astimezone(UTC)


def order_time(rnd: random.Random, day: date) -> datetime:
    slot = rnd.choices(SLOTS, [s.weight for s in SLOTS])[0]
    hours = rnd.triangular(slot.start, slot.end, slot.peak)
    return local_day_start(day) + timedelta(hours=hours, seconds=rnd.randrange(60))


def amount_for(rnd: random.Random, at: datetime) -> int:
    """Fen: mostly the low end of the slot's range, whole yuan or a price ending in .5 / .8."""
    hour = at.astimezone(TZ).hour + at.astimezone(TZ).minute / 60
    slot = min(SLOTS, key=lambda s: abs(s.peak - hour))
    yuan = slot.low + int((slot.high - slot.low) * rnd.random() ** 1.7)
    return yuan * 100 + rnd.choice((0, 0, 0, 0, 50, 80))


def pick_day(rnd: random.Random, first: date, last: date) -> date:
    """A day in [first, last], weekends more likely."""
    span = (last - first).days
    while True:
        day = first + timedelta(days=rnd.randint(0, span))
        if rnd.random() * max(WEEKDAY_WEIGHT) < WEEKDAY_WEIGHT[day.weekday()]:
            return day


def store_for(rnd: random.Random, person: Person) -> str:
    """Mostly the home store; sometimes another in the same city, or online."""
    r = rnd.random()
    if r < 0.72 or (r < 0.84 and person.home in REMOTE_CODES):
        return person.home
    if r < 0.84:
        city = next(s.city for s in STORES if s.code == person.home)
        return rnd.choice([s.code for s in STORES if s.city == city])
    return rnd.choice(REMOTE_CODES)


def orders_of(
    rnd: random.Random, person: Person, start: datetime, end: datetime
) -> list[PlannedOrder]:
    """The person's orders between joining (or ``start``) and leaving (or ``end``)."""
    first = max(person.registered_at, start)
    last = min(person.leaves_at or end, end)
    if last <= first:
        return []
    expected = person.visits_per_year * (last - first).days / 365
    count = int(expected) + (rnd.random() < expected % 1)
    found = []
    for _ in range(count):
        at = order_time(rnd, pick_day(rnd, first.astimezone(TZ).date(), last.astimezone(TZ).date()))
        if first <= at <= end:
            store = store_for(rnd, person)
            found.append(PlannedOrder(at, "", person.index, store, amount_for(rnd, at), _pay(rnd)))
    return found


def _pay(rnd: random.Random) -> str:
    return rnd.choices(list(PAYMENTS), list(PAYMENTS.values()))[0]


def number_orders(orders: list[PlannedOrder]) -> list[PlannedOrder]:
    """Sort by time and give each a till-style id: store, local date, sequence of the day."""
    seq: dict[tuple[str, date], int] = {}
    numbered = []
    for o in sorted(orders, key=lambda o: (o.at, o.person)):
        key = (o.store_code, o.at.astimezone(TZ).date())
        seq[key] = seq.get(key, 0) + 1
        order_id = f"{o.store_code}-{key[1]:%Y%m%d}-{seq[key]:04d}"
        numbered.append(
            PlannedOrder(o.at, order_id, o.person, o.store_code, o.amount, o.payment_method)
        )
    return numbered


def follow_ups(rnd: random.Random, order: PlannedOrder, end: datetime) -> list[PlannedEvent]:
    """What may follow an order: a refund (1.2%), points paid at the till (2.5%), a
    complaint compensated with points (0.3%), a wrong credit taken back (0.1%)."""
    events = []
    r = rnd.random()
    if r < 0.012:
        full = rnd.random() < 0.75
        amount = order.amount if full else max(order.amount * rnd.randint(20, 60) // 100, 100)
        at = order.at + timedelta(hours=rnd.uniform(0.2, 72))
        events.append(PlannedEvent(at, "refund", order.person, order.order_id, amount))
    elif r < 0.037:
        points = rnd.choice((100, 200, 300, 500, 800, 1000))
        note = "void" if rnd.random() < 0.1 else "capture"
        at = order.at + timedelta(minutes=1)
        hold = PlannedEvent(
            at, "hold", order.person, order.order_id, points, note, order.store_code
        )
        events.append(hold)
    elif r < 0.040:
        at = order.at + timedelta(days=rnd.uniform(0.5, 3))
        points = rnd.choice((50, 100, 150, 200))
        events.append(PlannedEvent(at, "adjust", order.person, None, points, "客诉补偿：出餐超时"))
    elif r < 0.041:
        at = order.at + timedelta(days=rnd.uniform(1, 10))
        points = -rnd.randint(10, 60)
        events.append(
            PlannedEvent(at, "adjust", order.person, None, points, "积分纠错：重复积分扣回")
        )
    return [e for e in events if e.at <= end]


def birthday_gifts(
    rnd: random.Random, people: list[Person], start: datetime, end: datetime
) -> list[PlannedEvent]:
    """A birthday gift of 188 points (valid 30 days) for a third of those with a birthday."""
    gifts = []
    for p in people:
        if p.birthday is None or rnd.random() > 0.35:
            continue
        for year in sorted({start.year, end.year}):
            try:
                day = p.birthday.replace(year=year)
            except ValueError:  # 29 February
                day = date(year, 3, 1)
            at = local_day_start(day) + timedelta(hours=9)
            if max(start, p.registered_at) <= at <= min(end, p.leaves_at or end):
                gifts.append(PlannedEvent(at, "adjust", p.index, None, 188, "生日礼遇"))
    return gifts


@dataclass(frozen=True)
class Plan:
    people: list[Person]
    orders: list[PlannedOrder]
    events: list[PlannedEvent]


def plan_history(rnd: random.Random, people: list[Person], start: datetime, end: datetime) -> Plan:
    """Every order and event of the year, each sorted by time."""
    orders = number_orders([o for p in people for o in orders_of(rnd, p, start, end)])
    events = [e for o in orders for e in follow_ups(rnd, o, end)]
    events += birthday_gifts(rnd, people, start, end)
    return Plan(people, orders, sorted(events, key=lambda e: (e.at, e.person)))
