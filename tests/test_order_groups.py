"""Single orders waiting together in a worker are posted in one transaction, each answered
exactly as it would have been alone; a group that fails is posted again order by order."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from loyalty.api.idempotency import Keyed
from loyalty.orders.groups import OrderGroups
from loyalty.orders.models import Order
from loyalty.orders.service import OrderRequest, Outcome, fingerprint, public_body
from tests.conftest import START, assert_balanced


def _order(order_id, member_id, amount, **kw):
    body = {"order_id": order_id, "member_id": member_id, "amount": amount, **kw}
    return OrderRequest(
        order_id=order_id,
        member_id=member_id,
        amount=amount,
        occurred_at=START,
        store_code=kw.get("store_code"),
        request_hash=fingerprint(body),
    )


def _together(groups: OrderGroups, orders, keys=None) -> list[Outcome | BaseException]:
    """Post ``orders`` as requests arriving at once would: all waiting before the first goes
    (with ``keys``: each order's ``Idempotency-Key``, or None)."""
    keyed = [_keyed(k, o) for k, o in zip(keys or [None] * len(orders), orders, strict=True)]

    async def arrive():
        posts = (groups.post(1, o, k) for o, k in zip(orders, keyed, strict=True))
        return await asyncio.gather(*posts, return_exceptions=True)

    with ThreadPoolExecutor(1) as worker:  # a loop of its own, as a server worker has
        return worker.submit(asyncio.run, arrive()).result(timeout=60)


def _keyed(key, order):
    return None if key is None else Keyed(key, fingerprint(["/v1/orders", order.request_hash]))


def test_orders_arriving_together_share_one_transaction_and_keep_their_own_answers(
    app, api, session
):
    ann, bo = api.member(), api.member()
    groups = OrderGroups(app.state)
    outcomes = _together(
        groups,
        [
            _order("G-1", ann["id"], 10_000),
            _order("G-2", bo["id"], 5_000),
            _order("G-3", ann["id"], 2_000),  # Ann again: after G-1, in the same transaction
            _order("G-4", 999_999, 1_000),  # nobody: refused alone
            _order("G-2", bo["id"], 7_000),  # G-2 again with another body
        ],
    )
    assert groups.transactions == 1
    assert [o.status for o in outcomes] == [201, 201, 201, 404, 409]
    assert [o.body["member_points"]["available"] for o in outcomes[:3]] == [100, 50, 120]
    assert (outcomes[3].error.code, outcomes[4].error.code) == (
        "member_not_found",
        "order_conflict",
    )
    # A retry of one of them, on its own, gets the very same answer.
    again = _together(groups, [_order("G-3", ann["id"], 2_000)])[0]
    assert public_body(again.body) == public_body(outcomes[2].body)
    assert groups.transactions == 2
    assert api.points(ann["id"])["available"] == 120
    assert_balanced(session)


@pytest.fixture
def poisoned(session):
    """A database that refuses one order id, whatever the application thinks of it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.order_id = 'POISON' THEN RAISE EXCEPTION 'poisoned order'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        session.execute(
            text(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON orders "
                "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
            )
        )
    else:
        session.execute(
            text(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON orders "
                "WHEN NEW.order_id = 'POISON' BEGIN SELECT RAISE(ABORT, 'poisoned order'); END"
            )
        )
    session.commit()


def test_a_group_the_database_refuses_is_posted_again_order_by_order(app, api, session, poisoned):
    ann, bo = api.member(), api.member()
    groups = OrderGroups(app.state)
    ok_1, poison, ok_2 = _together(
        groups,
        [
            _order("P-1", ann["id"], 10_000),
            _order("POISON", ann["id"], 3_000),
            _order("P-2", bo["id"], 4_000),
        ],
    )
    assert groups.transactions == 1 + 3  # the group, then each alone
    assert (ok_1.status, ok_2.status) == (201, 201)
    assert isinstance(poison, DBAPIError) and "poisoned order" in str(poison)
    posted = session.scalars(select(Order.order_id).order_by(Order.order_id)).all()
    assert posted == ["P-1", "P-2"]
    assert (api.points(ann["id"])["available"], api.points(bo["id"])["available"]) == (100, 40)
    assert_balanced(session)


def test_a_fault_outside_any_group_reaches_every_waiting_order_and_posting_goes_on(
    app, api, session, monkeypatch
):
    member = api.member()
    groups = OrderGroups(app.state)
    posting = OrderGroups._post_all

    def broken(self, waiting):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(OrderGroups, "_post_all", broken)
    failed = _together(
        groups, [_order("F-1", member["id"], 1_000), _order("F-2", member["id"], 1_000)]
    )
    assert [type(f) for f in failed] == [RuntimeError, RuntimeError]  # answered, not left waiting
    monkeypatch.setattr(OrderGroups, "_post_all", posting)
    (posted,) = _together(groups, [_order("F-1", member["id"], 1_000)])
    assert posted.status == 201 and api.points(member["id"])["available"] == 10
    assert_balanced(session)


def test_orders_with_idempotency_keys_are_grouped_and_replay_their_first_answer(app, api, session):
    ann, bo = api.member(), api.member()
    groups = OrderGroups(app.state)
    first = _together(
        groups,
        [
            _order("I-1", ann["id"], 10_000),
            _order("I-2", bo["id"], 5_000),
            _order("I-3", ann["id"], 1_000),
        ],
        keys=["till-1-a", "till-1-b", None],
    )
    assert groups.transactions == 1
    assert [o.status for o in first] == [201, 201, 201]
    # Retried alone with their keys: the first answers, nothing posted again; a key sent
    # with another order is refused.
    again = _together(
        groups,
        [_order("I-1", ann["id"], 10_000), _order("I-9", bo["id"], 7_000)],
        keys=["till-1-a", "till-1-b"],
    )
    assert again[0].status == 201
    assert again[0].body == public_body(first[0].body)
    assert again[1].error.code == "idempotency_conflict"
    assert (api.points(ann["id"])["available"], api.points(bo["id"])["available"]) == (110, 50)
    assert_balanced(session)


def test_a_key_given_twice_in_one_group_is_taken_one_request_after_the_other(app, api, session):
    ann = api.member()
    groups = OrderGroups(app.state)
    same, twin, other = _together(
        groups,
        [
            _order("T-1", ann["id"], 3_000),
            _order("T-1", ann["id"], 3_000),
            _order("T-2", ann["id"], 9_000),
        ],
        keys=["till-2-a", "till-2-a", "till-2-a"],
    )
    assert groups.transactions == 1
    assert (same.status, twin.status) == (201, 201) and twin.body == same.body
    assert other.error.code == "idempotency_conflict"
    assert api.points(ann["id"])["available"] == 30
    assert_balanced(session)
