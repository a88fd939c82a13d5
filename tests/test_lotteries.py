"""Points lotteries: a draw costs points, prizes have odds and stock, every draw is audited."""

import secrets
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from loyalty.coupons.models import Coupon
from loyalty.ledger.models import Entry
from loyalty.ledger.verify import verify
from loyalty.lotteries import service
from loyalty.lotteries.models import LotteryPrize
from loyalty.lotteries.picking import NothingToPickError, pick
from loyalty.notifications.models import OutboxEvent
from tests.conftest import START, assert_balanced
from tests.factories import Api, key_for

# Critical values of the chi-square distribution at p = 0.001, by degrees of freedom.
CHI2_CRITICAL_P001 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515}


def lottery(api: Api, **kw: Any) -> dict[str, Any]:
    body = {
        "name": "积分抽奖",
        "cost_points": 100,
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(days=30)).isoformat(),
        **kw,
    }
    return api.ok("/v1/lotteries", body, 201)


def set_prizes(api: Api, lottery_id: int, prizes: list[dict[str, Any]]) -> dict[str, Any]:
    r = api.client.put(
        f"/v1/lotteries/{lottery_id}/prizes", json={"prizes": prizes}, headers=api.headers
    )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def draw(api: Api, lottery_id: int, member_id: int, draw_id: str) -> httpx.Response:
    return api.post(
        f"/v1/lotteries/{lottery_id}/draws", {"draw_id": draw_id, "member_id": member_id}
    )


def member_with_points(api: Api, points: int) -> dict[str, Any]:
    """A member who earned ``points`` (1 point per yuan)."""
    member = api.member()
    api.order(member["id"], points * 100, START)
    return member


POINTS_50 = {"name": "50 积分", "kind": "points", "points": 50, "weight": 1}


def test_a_draw_costs_points_and_the_ledger_stays_balanced(api, session):
    lot = lottery(api)
    set_prizes(api, lot["id"], [POINTS_50])
    member = member_with_points(api, 500)
    r = draw(api, lot["id"], member["id"], "D-1")
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["prize"] | {"id": 0} == {
        "id": 0,
        "name": "50 积分",
        "kind": "points",
        "points": 50,
        "coupon_code": None,
        "description": None,
    }
    assert (answer["cost_points"], answer["total_weight"], answer["random_value"]) == (100, 1, 0)
    assert answer["member_points"] == {"available": 450, "pending": 0}
    assert api.points(member["id"])["available"] == 450
    kinds = session.execute(
        select(Entry.kind, Entry.points).where(Entry.source_type == "lottery").order_by(Entry.id)
    ).all()
    assert [tuple(k) for k in kinds] == [("redeem", -100), ("earn", 50)]
    assert session.scalar(select(func.count()).where(OutboxEvent.topic == "lottery.drawn")) == 1
    assert_balanced(session)


def test_without_enough_points_nothing_is_drawn(api, session):
    lot = lottery(api)
    set_prizes(api, lot["id"], [POINTS_50])
    member = member_with_points(api, 99)
    r = draw(api, lot["id"], member["id"], "D-1")
    assert r.status_code == 409 and r.json()["code"] == "insufficient_points"
    assert api.get(f"/v1/lotteries/{lot['id']}/draws").json()["items"] == []
    assert api.get(f"/v1/lotteries/{lot['id']}").json()["prizes"][0]["given"] == 0
    assert_balanced(session)


def test_exactly_once_per_draw_id(api, session):
    lot = lottery(api)
    set_prizes(api, lot["id"], [POINTS_50])
    member, other = member_with_points(api, 500), member_with_points(api, 500)
    first = draw(api, lot["id"], member["id"], "D-1")
    again = draw(api, lot["id"], member["id"], "D-1")
    assert (again.status_code, again.json()) == (201, first.json())
    assert api.points(member["id"])["available"] == 450  # charged once
    conflict = draw(api, lot["id"], other["id"], "D-1")
    assert conflict.status_code == 409 and conflict.json()["code"] == "draw_conflict"
    assert len(api.get(f"/v1/members/{member['id']}/draws").json()["items"]) == 1
    assert_balanced(session)


def test_daily_limit(api, session, clock):
    lot = lottery(api, daily_limit=2)
    set_prizes(api, lot["id"], [POINTS_50])
    member = member_with_points(api, 1_000)
    assert draw(api, lot["id"], member["id"], "D-1").status_code == 201
    assert draw(api, lot["id"], member["id"], "D-2").status_code == 201
    third = draw(api, lot["id"], member["id"], "D-3")
    assert third.status_code == 409 and third.json()["code"] == "daily_draw_limit_reached"
    assert third.json()["next_at"] == "2026-03-04T16:00:00+00:00"  # midnight in Shanghai
    clock.current = START.replace(hour=16)  # the next local day
    assert draw(api, lot["id"], member["id"], "D-3").status_code == 201
    assert_balanced(session)


def test_a_lottery_draws_only_while_open(api, clock):
    lot = lottery(api, starts_at=(START + timedelta(days=1)).isoformat())
    set_prizes(api, lot["id"], [POINTS_50])
    member = member_with_points(api, 500)
    early = draw(api, lot["id"], member["id"], "D-1")
    assert early.status_code == 409 and early.json()["code"] == "lottery_not_open"
    clock.advance(days=1)
    paused = api.client.patch(
        f"/v1/lotteries/{lot['id']}", json={"status": "paused"}, headers=api.headers
    )
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert draw(api, lot["id"], member["id"], "D-1").json()["code"] == "lottery_not_open"


def test_a_prize_out_of_stock_is_never_awarded_and_odds_renormalise(api, session, monkeypatch):
    monkeypatch.setattr(service, "RANDOM_SOURCE", lambda n: 0)  # always the first in stock
    lot = lottery(api, cost_points=10)
    prizes = [
        {"name": "已抢光", "kind": "gift", "description": "umbrella", "weight": 1000, "stock": 0},
        {"name": "保温杯", "kind": "gift", "description": "thermos", "weight": 10, "stock": 2},
        {"name": "谢谢参与", "kind": "nothing", "weight": 30},
    ]
    view = set_prizes(api, lot["id"], prizes)
    assert [p["odds"] for p in view["prizes"]] == [0.0, 0.25, 0.75]
    member = member_with_points(api, 500)
    won = [draw(api, lot["id"], member["id"], f"D-{i}").json() for i in range(4)]
    assert [w["prize"]["name"] for w in won] == ["保温杯", "保温杯", "谢谢参与", "谢谢参与"]
    assert [w["total_weight"] for w in won] == [40, 40, 30, 30]
    after = api.get(f"/v1/lotteries/{lot['id']}").json()["prizes"]
    assert [(p["given"], p["remaining"], p["odds"]) for p in after] == [
        (0, 0, 0.0),
        (2, 0, 0.0),
        (2, None, 1.0),
    ]
    assert_balanced(session)


def test_the_weighted_pick_follows_its_random_source():
    weights = [5, 0, 3, 2]

    def fixed(r: int) -> Callable[[int], int]:
        return lambda _n: r

    assert [pick(weights, fixed(r)).index for r in range(10)] == [0] * 5 + [2] * 3 + [3] * 2
    assert pick(weights, lambda n: 9).total_weight == 10
    with pytest.raises(NothingToPickError):
        pick([0, 0], secrets.randbelow)


def test_a_hundred_thousand_picks_match_the_weights():
    """Chi-square goodness of fit of 100,000 ``secrets``-driven picks at p = 0.001."""
    weights = [50, 30, 15, 4, 1]
    n = 100_000
    counts = Counter(pick(weights, secrets.randbelow).index for _ in range(n))
    total = sum(weights)
    expected = [n * w / total for w in weights]
    chi2 = sum((counts[i] - e) ** 2 / e for i, e in enumerate(expected))
    assert chi2 < CHI2_CRITICAL_P001[len(weights) - 1], (chi2, counts)


def test_a_coupon_prize_issues_a_coupon(api, session):
    template = api.ok(
        "/v1/coupon-templates",
        {"name": "满50减10", "kind": "amount_off", "amount_off": 1_000, "valid_days": 7},
        201,
    )
    lot = lottery(api)
    set_prizes(
        api,
        lot["id"],
        [{"name": "券", "kind": "coupon", "template_id": template["id"], "weight": 1}],
    )
    member = member_with_points(api, 500)
    won = draw(api, lot["id"], member["id"], "D-1").json()
    code = won["prize"]["coupon_code"]
    coupon = session.scalar(select(Coupon).where(Coupon.code == code))
    assert (coupon.member_id, coupon.source_type, coupon.source_id) == (
        member["id"],
        "lottery",
        "D-1",
    )
    audit = api.get(f"/v1/lotteries/{lot['id']}/draws").json()["items"]
    assert audit[0]["coupon_code"] == code


def test_points_spent_and_won_reconcile_with_the_ledger(api, session):
    lot = lottery(api, cost_points=30)
    set_prizes(
        api,
        lot["id"],
        [
            {"name": "100 积分", "kind": "points", "points": 100, "weight": 1},
            {"name": "10 积分", "kind": "points", "points": 10, "weight": 2},
            {
                "name": "公仔",
                "kind": "gift",
                "description": "doll",
                "weight": 1,
                "unit_cost": 1_500,
            },
            {"name": "谢谢参与", "kind": "nothing", "weight": 4},
        ],
    )
    members = [member_with_points(api, 300) for _ in range(3)]
    for i in range(24):
        assert draw(api, lot["id"], members[i % 3]["id"], f"D-{i}").status_code == 201
    row = api.get("/v1/reports/lotteries").json()["lotteries"][0]

    def ledger(kind: str) -> int:
        return int(
            session.scalar(
                select(func.coalesce(func.sum(Entry.points), 0)).where(
                    Entry.source_type == "lottery", Entry.kind == kind
                )
            )
        )

    assert (row["draws"], row["points_spent"]) == (24, 720)
    assert -ledger("redeem") == row["points_spent"]
    assert ledger("earn") == row["points_won"]
    given = {p["name"]: p for p in row["prizes"]}
    assert sum(p["given"] for p in row["prizes"]) == 24
    assert (
        given.get("100 积分", {"points_won": 0})["points_won"]
        + given.get("10 积分", {"points_won": 0})["points_won"]
        == row["points_won"]
    )
    if "公仔" in given:
        assert given["公仔"]["cost_amount"] == 1_500 * given["公仔"]["given"]
    assert_balanced(session)


def test_the_audit_trail_is_paginated(api):
    lot = lottery(api, cost_points=1)
    set_prizes(api, lot["id"], [{"name": "谢谢参与", "kind": "nothing", "weight": 1}])
    member = member_with_points(api, 10)
    for i in range(3):
        draw(api, lot["id"], member["id"], f"D-{i}")
    first = api.get(f"/v1/lotteries/{lot['id']}/draws", params={"limit": 2}).json()
    assert [d["draw_id"] for d in first["items"]] == ["D-2", "D-1"]
    rest = api.get(
        f"/v1/lotteries/{lot['id']}/draws", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [d["draw_id"] for d in rest["items"]] == ["D-0"]
    assert {"random_value", "total_weight", "member_id", "cost_points"} <= set(rest["items"][0])


@pytest.mark.parametrize(
    "prize",
    [
        {"name": "x", "kind": "points", "weight": 1},
        {"name": "x", "kind": "nothing", "weight": 0},
        {"name": "x", "kind": "coupon", "weight": 1},
        {"name": "x", "kind": "coupon", "template_id": 999, "weight": 1},
        {"name": "x", "kind": "nothing", "weight": 1, "stock": -1},
        {"name": "x", "kind": "lucky", "weight": 1},
    ],
)
def test_a_bad_prize_is_refused(api, prize):
    lot = lottery(api)
    r = api.client.put(
        f"/v1/lotteries/{lot['id']}/prizes", json={"prizes": [prize]}, headers=api.headers
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_a_bad_lottery_is_refused_and_roles_apply(api, session):
    r = api.post(
        "/v1/lotteries",
        {
            "name": "x",
            "cost_points": 1,
            "starts_at": START.isoformat(),
            "ends_at": START.isoformat(),
        },
    )
    assert r.status_code == 422
    lot = lottery(api)
    till = Api(api.client, key_for(session, "pos"))
    reader = Api(api.client, key_for(session, "readonly"))
    assert till.post("/v1/lotteries", {"name": "x"}).status_code == 403
    assert (
        reader.post(
            f"/v1/lotteries/{lot['id']}/draws", {"draw_id": "x", "member_id": 1}
        ).status_code
        == 403
    )
    assert reader.get(f"/v1/lotteries/{lot['id']}/draws").status_code == 200


def test_concurrent_draws_never_oversell_a_prize(live_api, committed_db):
    url, token = live_api
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        lot = c.post(
            "/v1/lotteries",
            json={
                "name": "限量",
                "cost_points": 10,
                "starts_at": (START - timedelta(days=3650)).isoformat(),
                "ends_at": (START + timedelta(days=3650)).isoformat(),
            },
        ).json()
        prizes = [
            {"name": "iPhone", "kind": "gift", "description": "phone", "weight": 1000, "stock": 3},
            {"name": "谢谢参与", "kind": "nothing", "weight": 1},
        ]
        assert c.put(f"/v1/lotteries/{lot['id']}/prizes", json={"prizes": prizes}).is_success
        members = []
        for _ in range(10):
            m = c.post("/v1/members", json={}).json()["id"]
            adjust = {"member_id": m, "points": 100, "reason": "seed"}
            assert c.post("/v1/points/adjustments", json=adjust).status_code == 201
            members.append(m)

        def one(i: int) -> httpx.Response:
            body = {"draw_id": f"P-{i}", "member_id": members[i]}
            return c.post(f"/v1/lotteries/{lot['id']}/draws", json=body)

        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(one, range(10)))
    assert [r.status_code for r in answers] == [201] * 10, [r.text for r in answers]
    won = Counter(r.json()["prize"]["name"] for r in answers)
    assert won["iPhone"] == 3
    with committed_db.reader() as s:
        given = s.scalar(select(LotteryPrize.given).where(LotteryPrize.name == "iPhone"))
        assert given == 3
        assert verify(s) == []
