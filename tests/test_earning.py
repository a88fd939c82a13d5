"""Earning on orders, in the words of a store."""

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from loyalty.orders import endpoints as order_endpoints
from loyalty.orders.endpoints import BATCH_PART
from loyalty.orders.service import post_orders
from loyalty.programs.models import Program
from tests.conftest import START, assert_balanced


def test_one_yuan_earns_one_point_rounded_down(api, session):
    api.store("SH001")
    member = api.member()
    answer = api.order(member["id"], 12_399, START, store_code="SH001")
    assert answer["points"] == {
        "awarded": 123,
        "status": "available",
        "available_at": None,
        "expires_at": (START + timedelta(days=365)).isoformat(),
    }
    assert [b["points"] for b in answer["breakdown"]] == [123]
    assert "¥123.99" in answer["breakdown"][0]["description"]
    assert answer["member_points"] == {"available": 123, "pending": 0}
    assert_balanced(session)


def test_base_rate_is_configurable(api, session):
    program = session.scalar(select(Program))
    program.earn_points, program.earn_per_amount = 1, 1000  # 1 point per ¥10
    session.commit()
    member = api.member()
    assert api.order(member["id"], 9_999, START)["points"]["awarded"] == 9


def test_stored_value_payment_and_excluded_categories_earn_nothing(api, session):
    program = session.scalar(select(Program))
    program.excluded_payment_methods = ["stored_value"]
    program.excluded_categories = ["tobacco"]
    session.commit()
    member = api.member()
    paid_by_card = api.order(member["id"], 10_000, START, payment_method="stored_value")
    assert paid_by_card["points"]["awarded"] == 0
    lines = [
        {"sku": "T1", "category": "tobacco", "quantity": 1, "amount": 4_000},
        {"sku": "M1", "category": "milk tea", "quantity": 2, "amount": 6_000},
    ]
    assert api.order(member["id"], 10_000, START, lines=lines)["points"]["awarded"] == 60


def test_a_retry_gets_the_first_answer_and_no_second_credit(api, session):
    member = api.member()
    body = api.order_body(member["id"], 5_000, START, order_id="POS-1-0001")
    first = api.post("/v1/orders", body)
    again = api.post("/v1/orders", body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert api.points(member["id"])["available"] == 50
    assert_balanced(session)


def test_same_order_id_with_another_body_is_a_conflict(api):
    member = api.member()
    api.order(member["id"], 5_000, START, order_id="POS-1-0002")
    clash = api.post(
        "/v1/orders", api.order_body(member["id"], 6_000, START, order_id="POS-1-0002")
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "order_conflict"
    assert clash.headers["content-type"].startswith("application/problem+json")


def test_idempotency_key_replays_and_refuses_another_body(api):
    member = api.member()
    key = {"Idempotency-Key": "till-7-req-1"}
    body = api.order_body(member["id"], 1_000, START, order_id="K-1")
    assert api.post("/v1/orders", body, headers=key).status_code == 201
    replay = api.post("/v1/orders", body, headers=key)
    assert replay.status_code == 201 and replay.json()["points"]["awarded"] == 10
    other = api.post(
        "/v1/orders", api.order_body(member["id"], 1_000, START, order_id="K-2"), headers=key
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert api.points(member["id"])["available"] == 10


def test_simulate_answers_without_posting(api, session):
    member = api.member()
    sim = api.post("/v1/orders/simulate", api.order_body(member["id"], 8_800, START))
    assert sim.status_code == 200
    assert sim.json()["points"]["awarded"] == 88
    assert sim.json()["member_points"]["available"] == 88
    assert api.points(member["id"])["available"] == 0
    assert api.get(f"/v1/members/{member['id']}/ledger").json()["items"] == []


def test_backdated_order_expires_a_year_after_it_happened(api, clock):
    member = api.member()
    yesterday = START - timedelta(days=1)
    answer = api.order(member["id"], 1_000, yesterday)
    assert answer["points"]["expires_at"] == (yesterday + timedelta(days=365)).isoformat()


def test_order_far_in_the_future_is_refused(api):
    member = api.member()
    r = api.post("/v1/orders", api.order_body(member["id"], 1_000, START + timedelta(days=3)))
    assert r.status_code == 422 and r.json()["code"] == "occurred_at_in_future"


def test_orders_to_an_unknown_member_or_store_are_refused(api):
    member = api.member()
    unknown = api.post("/v1/orders", api.order_body(987_654, 1_000, START))
    assert unknown.status_code == 404 and unknown.json()["code"] == "member_not_found"
    bad_store = api.post(
        "/v1/orders", api.order_body(member["id"], 1_000, START, store_code="NOPE")
    )
    assert bad_store.status_code == 422 and bad_store.json()["code"] == "unknown_store"


def test_batch_answers_each_order_and_a_bad_one_rejects_nothing_else(api, session):
    api.store("SH001")
    member = api.member()
    orders = [
        api.order_body(member["id"], 1_000 * (i + 1), START, store_code="SH001") for i in range(5)
    ]
    orders.insert(2, api.order_body(424_242, 1_000, START))
    orders.append(dict(orders[0]))  # the same order again inside the batch: a replay
    r = api.post("/v1/orders/batch", {"orders": orders})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 201, 404, 201, 201, 201, 201]
    assert results[2]["body"]["code"] == "member_not_found"
    assert results[-1]["body"] == results[0]["body"]
    assert api.points(member["id"])["available"] == 10 + 20 + 30 + 40 + 50
    assert_balanced(session)


def test_batch_retry_does_not_credit_twice(api, session):
    member = api.member()
    orders = [api.order_body(member["id"], 2_000, START) for _ in range(3)]
    first = api.post("/v1/orders/batch", {"orders": orders}).json()
    again = api.post("/v1/orders/batch", {"orders": orders}).json()
    assert first == again
    assert api.points(member["id"])["available"] == 60
    assert_balanced(session)


def test_a_batch_of_several_parts_is_answered_as_one(api, session):
    """Past ``BATCH_PART`` orders a batch is posted in several transactions; repeats of an
    order id in another part are answered as within one."""
    members = [api.member() for _ in range(3)]
    count = 2 * BATCH_PART + 50
    orders = [
        api.order_body(members[i % 3]["id"], 1_000 + 100 * i, START, order_id=f"P-{i}")
        for i in range(count)
    ]
    orders.append(dict(orders[10]))  # the same order again, two parts later
    orders.append({**orders[11], "amount": 99_900})  # its id again, with another amount
    results = api.ok("/v1/orders/batch", {"orders": orders})["results"]
    assert [r["status"] for r in results] == [201] * (count + 1) + [409]
    assert results[count]["body"] == results[10]["body"]
    assert results[-1]["body"]["code"] == "order_conflict"
    earned = {m["id"]: 0 for m in members}
    for body in orders[:count]:
        earned[body["member_id"]] += body["amount"] // 100
    assert {m["id"]: api.points(m["id"])["available"] for m in members} == earned
    assert_balanced(session)


def test_a_batch_that_fails_midway_posts_the_rest_when_sent_again(api, session, monkeypatch):
    """Each part is its own transaction: a failure keeps the parts before it, whole, and
    sending the batch again answers them as first posted and posts the others."""
    member = api.member()
    orders = [api.order_body(member["id"], 1_000, START) for _ in range(BATCH_PART + 1)]
    calls = []

    def fail_second(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the server went away")
        return post_orders(*args, **kw)

    monkeypatch.setattr(order_endpoints, "post_orders", fail_second)
    assert api.post("/v1/orders/batch", {"orders": orders}).status_code == 500
    assert api.points(member["id"])["available"] == 10 * BATCH_PART
    assert_balanced(session)
    results = api.ok("/v1/orders/batch", {"orders": orders})["results"]
    assert [r["status"] for r in results] == [201] * (BATCH_PART + 1)
    assert results[0]["body"]["member_points"]["available"] == 10
    assert api.points(member["id"])["available"] == 10 * (BATCH_PART + 1)
    assert_balanced(session)


def test_batch_is_limited_to_a_thousand_orders(api):
    member = api.member()
    orders = [api.order_body(member["id"], 100, START) for _ in range(1001)]
    r = api.post("/v1/orders/batch", {"orders": orders})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


def test_each_lot_points_at_the_entry_that_created_it(api, session):
    from loyalty.ledger.models import Entry, Lot

    member = api.member()
    api.post(
        "/v1/orders/batch",
        {"orders": [api.order_body(member["id"], 1_000 * (i + 1), START) for i in range(60)]},
    )
    for i in range(3):  # one at a time: on PostgreSQL the entry and its lot in one statement
        api.order(member["id"], 500 * (i + 1), START, order_id=f"ONE-{i}")
    pairs = session.execute(
        select(Lot.entry_id, Entry.id, Entry.source_id, Lot.source_id).outerjoin(
            Entry, Entry.id == Lot.entry_id
        )
    ).all()
    assert len(pairs) == 63
    assert all(lot_entry == entry_id and a == b for lot_entry, entry_id, a, b in pairs)
