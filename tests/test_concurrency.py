"""Real parallel requests over HTTP, each on its own database connection."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from loyalty.ledger import jobs
from loyalty.ledger.jobs import expire_lots
from loyalty.ledger.verify import verify
from loyalty.orders.endpoints import BATCH_PART
from tests.conftest import START


def _parallel(n, call):
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


@pytest.fixture
def client(live_api):
    url, token = live_api
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        yield c


def _member_with(client, points):
    member = client.post("/v1/members", json={}).json()
    order = {
        "order_id": f"SEED-{member['id']}",
        "member_id": member["id"],
        "amount": points * 100,
        "occurred_at": START.isoformat(),
    }
    assert client.post("/v1/orders", json=order).status_code == 201
    return member["id"]


def _balanced(db):
    with db.reader() as s:
        assert verify(s) == []


def test_twenty_holds_of_ten_against_a_hundred_give_exactly_ten(client, committed_db):
    member = _member_with(client, 100)
    body = {"member_id": member, "points": 10}
    statuses = _parallel(
        20,
        lambda i: client.post("/v1/points/holds", json={**body, "reference": f"T{i}"}).status_code,
    )
    assert sorted(statuses) == [201] * 10 + [409] * 10
    points = client.get(f"/v1/members/{member}/points").json()
    assert (points["available"], points["held"]) == (0, 100)
    _balanced(committed_db)


def test_concurrent_retries_of_one_order_credit_once(client, committed_db):
    member = client.post("/v1/members", json={}).json()["id"]
    order = {
        "order_id": "RETRY-1",
        "member_id": member,
        "amount": 10_000,
        "occurred_at": START.isoformat(),
    }
    answers = _parallel(12, lambda i: client.post("/v1/orders", json=order))
    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1
    assert client.get(f"/v1/members/{member}/points").json()["available"] == 100
    _balanced(committed_db)


def test_concurrent_retries_with_one_idempotency_key_credit_once(client, committed_db):
    member = client.post("/v1/members", json={}).json()["id"]
    order = {
        "order_id": "KEYED-1",
        "member_id": member,
        "amount": 10_000,
        "occurred_at": START.isoformat(),
    }
    key = {"Idempotency-Key": "till-9-0001"}
    answers = _parallel(12, lambda i: client.post("/v1/orders", json=order, headers=key))
    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1
    other = client.post("/v1/orders", json={**order, "order_id": "KEYED-2"}, headers=key)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert client.get(f"/v1/members/{member}/points").json()["available"] == 100
    _balanced(committed_db)


def test_forty_tills_posting_at_once_credit_every_order_once(client, committed_db):
    members = [client.post("/v1/members", json={}).json()["id"] for _ in range(5)]

    def post(i):
        order = {
            "order_id": f"TILL-{i}",
            "member_id": members[i % 5],
            "amount": 1_000 * (i + 1),
            "occurred_at": START.isoformat(),
        }
        return client.post("/v1/orders", json=order)

    answers = _parallel(40, post)
    assert [a.status_code for a in answers] == [201] * 40
    assert [a.json()["points"]["awarded"] for a in answers] == [10 * (i + 1) for i in range(40)]
    for k, member in enumerate(members):
        mine = [a.json()["member_points"]["available"] for a in answers[k::5]]
        expected = sum(10 * (i + 1) for i in range(k, 40, 5))
        # each answer saw the balance just after its own order: eight distinct steps
        assert len(set(mine)) == 8 and max(mine) == expected
        assert client.get(f"/v1/members/{member}/points").json()["available"] == expected
    _balanced(committed_db)


def test_batches_of_shared_members_sent_at_once_credit_every_order_once(client, committed_db):
    """Four stores re-sync at once, each a batch of several parts over the same members, and
    one of them sends its batch twice at the same moment."""
    members = [client.post("/v1/members", json={}).json()["id"] for _ in range(7)]
    size = 2 * BATCH_PART + 10

    def batch(store):
        orders = [
            {
                "order_id": f"SYNC-{store}-{i}",
                "member_id": members[(i + store) % 7],
                "amount": 100 * (i + 1),
                "occurred_at": START.isoformat(),
            }
            for i in range(size)
        ]
        return client.post("/v1/orders/batch", json={"orders": orders})

    answers = _parallel(5, lambda k: batch(min(k, 3)))  # stores 0, 1, 2, 3 and 3 again
    for answer in answers:
        assert [r["status"] for r in answer.json()["results"]] == [201] * size
    assert answers[3].json() == answers[4].json()
    expected = dict.fromkeys(members, 0)
    for store in range(4):
        for i in range(size):
            expected[members[(i + store) % 7]] += i + 1
    for member in members:
        assert client.get(f"/v1/members/{member}/points").json()["available"] == expected[member]
    _balanced(committed_db)


def test_concurrent_idempotency_keys_give_one_answer(client, committed_db):
    member = _member_with(client, 100)
    body = {"member_id": member, "points": 30, "reference": "SAME"}
    answers = _parallel(
        8,
        lambda i: client.post(
            "/v1/points/holds", json=body, headers={"Idempotency-Key": "hold-once"}
        ),
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert client.get(f"/v1/members/{member}/points").json()["held"] == 30
    _balanced(committed_db)


def test_concurrent_refunds_never_take_back_more_than_earned(client, committed_db):
    member = _member_with(client, 100)
    answers = _parallel(
        10,
        lambda i: client.post(
            f"/v1/orders/SEED-{member}/refunds", json={"refund_id": f"R{i}", "amount": 2_500}
        ),
    )
    assert sorted(a.status_code for a in answers) == [201] * 4 + [422] * 6
    assert client.get(f"/v1/members/{member}/points").json()["available"] == 0
    _balanced(committed_db)


def test_expiry_running_twice_at_once_with_live_orders(client, committed_db):
    members = [_member_with(client, 50) for _ in range(6)]
    later = START.replace(year=START.year + 2)

    def work(i):
        if i < 2:
            return expire_lots(committed_db.transaction, later, later).points
        m = members[i % len(members)]
        client.post(
            "/v1/orders",
            json={
                "order_id": f"LIVE-{i}",
                "member_id": m,
                "amount": 1_000,
                "occurred_at": later.isoformat(),
            },
        )
        return 0

    expired = sum(_parallel(8, work))
    assert expired == 6 * 50
    _balanced(committed_db)


def test_expiry_in_lanes_expires_every_due_point_exactly_once(client, committed_db, monkeypatch):
    """Lanes (stretches of members worked side by side) twice at once, beside live orders."""
    monkeypatch.setattr(jobs, "CHUNK_MEMBERS", 2)
    members = [_member_with(client, 10 + i) for i in range(9)]
    later = START.replace(year=START.year + 2)

    def work(i):
        if i < 2:
            return expire_lots(committed_db.transaction, later, later, lanes=3).points
        client.post(
            "/v1/orders",
            json={
                "order_id": f"LANE-{i}",
                "member_id": members[i],
                "amount": 1_000,
                "occurred_at": later.isoformat(),
            },
        )
        return 0

    assert sum(_parallel(8, work)) == sum(10 + i for i in range(9))
    assert expire_lots(committed_db.transaction, later, later, lanes=3).points == 0
    _balanced(committed_db)


def test_a_rule_budget_holds_exactly_under_concurrent_orders(client, committed_db):
    rule = client.post(
        "/v1/rules",
        json={
            "name": "开业加 10",
            "kind": "bonus",
            "points": 10,
            "budget": 100,
            "status": "enabled",
        },
    ).json()
    members = [client.post("/v1/members", json={}).json()["id"] for _ in range(6)]
    answers = _parallel(
        20,
        lambda i: client.post(
            "/v1/orders",
            json={
                "order_id": f"B-{i}",
                "member_id": members[i % 6],
                "amount": 0,
                "occurred_at": START.isoformat(),
            },
        ).json(),
    )
    assert sum(a["points"]["awarded"] for a in answers) == 100
    assert client.get(f"/v1/rules/{rule['id']}").json()["budget_used"] == 100
    _balanced(committed_db)


def test_fifty_redemptions_of_ten_in_stock_give_exactly_ten(client, committed_db):
    client.post("/v1/stores", json={"code": "SH001", "name": "门店", "channel": "store"})
    reward = client.post(
        "/v1/rewards",
        json={"name": "中杯奶茶", "points_price": 100, "stock": 10, "fulfilment": "pickup"},
    ).json()
    members = [_member_with(client, 300) for _ in range(10)]
    answers = _parallel(
        50,
        lambda i: client.post(
            "/v1/redemptions",
            json={
                "redemption_id": f"R-{i}",
                "member_id": members[i % 10],
                "reward_id": reward["id"],
                "store_code": "SH001",
            },
        ),
    )
    assert sorted(a.status_code for a in answers) == [201] * 10 + [409] * 40
    assert client.get(f"/v1/rewards/{reward['id']}").json()["stock"] == 0
    spent = sum(300 - client.get(f"/v1/members/{m}/points").json()["available"] for m in members)
    assert spent == 10 * 100
    _balanced(committed_db)
