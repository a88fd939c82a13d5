"""The points mall in the words of the brief: rewards, redemption in three steps, pickup
codes verified at the counter, cancellations."""

from datetime import timedelta

from tests.conftest import START, assert_balanced

TEA = {
    "name": "中杯奶茶",
    "name_en": "Medium milk tea",
    "points_price": 500,
    "stock": 20,
    "fulfilment": "pickup",
    "category": "drinks",
}


def _reward(api, **body):
    return api.ok("/v1/rewards", {**TEA, **body}, 201)


def _member_with(api, points, at=START):
    member = api.member()
    api.order(member["id"], points * 100, at)
    return member


def _redeem(api, member, reward, rid="RD-1", **body):
    return api.post(
        "/v1/redemptions",
        {"redemption_id": rid, "member_id": member["id"], "reward_id": reward["id"], **body},
    )


def test_500_points_for_a_free_medium_tea_picked_up_once_at_the_store(api, session, clock):
    api.store("SH001")
    api.store("BJ001")
    tea = _reward(api)
    member = _member_with(api, 800)
    done = _redeem(api, member, tea, store_code="SH001")
    assert done.status_code == 201, done.text
    body = done.json()
    assert (body["points"], body["status"], body["cash_due"]) == (500, "pending", 0)
    assert len(body["pickup_code"]) == 8 and body["pickup_qr"].endswith("/qr.png")
    assert api.points(member["id"])["available"] == 300
    assert api.get(f"/v1/rewards/{tea['id']}").json()["stock"] == 19
    qr = api.get(body["pickup_qr"])
    assert qr.status_code == 200 and qr.content[:8] == b"\x89PNG\r\n\x1a\n"
    elsewhere = api.post(
        "/v1/redemptions/verify", {"code": body["pickup_code"], "store_code": "BJ001"}
    )
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "wrong_store"
    clock.advance(minutes=5)
    ok = api.post("/v1/redemptions/verify", {"code": body["pickup_code"], "store_code": "SH001"})
    assert ok.status_code == 200 and ok.json()["status"] == "fulfilled"
    again = api.post("/v1/redemptions/verify", {"code": body["pickup_code"], "store_code": "SH001"})
    assert again.status_code == 409 and again.json()["code"] == "already_verified"
    assert again.json()["used_store_code"] == "SH001"
    assert again.json()["used_at"] == (START + timedelta(minutes=5)).isoformat()
    assert_balanced(session)


def test_500_points_plus_5_yuan_for_socks(api, session):
    socks = _reward(api, name="袜子", points_price=500, cash_price=500, fulfilment="delivery")
    member = _member_with(api, 600)
    no_address = _redeem(api, member, socks)
    assert no_address.status_code == 422 and no_address.json()["code"] == "address_required"
    api.ok(
        f"/v1/members/{member['id']}/addresses",
        {
            "recipient": "张三",
            "phone": "13800138000",
            "region": "上海市 静安区",
            "detail": "南京西路 1 号",
        },
        201,
    )
    body = _redeem(api, member, socks, rid="RD-2").json()
    assert (body["points"], body["cash_due"]) == (500, 500)
    assert body["address"]["detail"] == "南京西路 1 号"
    assert api.ok("/v1/redemptions/RD-2/ship", {"tracking": "SF123"})["status"] == "shipped"
    assert api.ok("/v1/redemptions/RD-2/complete")["status"] == "completed"
    assert_balanced(session)


def test_the_members_list_shows_what_they_can_afford_first(api):
    _reward(api, name="大杯奶茶", points_price=700)
    _reward(api, name="中杯奶茶", points_price=500)
    _reward(api, name="保温杯", points_price=3000)
    _reward(api, name="下架礼品", points_price=100, status="off")
    member = _member_with(api, 580)
    listing = api.get(f"/v1/members/{member['id']}/rewards").json()
    assert [(r["name"], r["can_redeem"], r["reason"]) for r in listing] == [
        ("中杯奶茶", True, None),
        ("大杯奶茶", False, "差 120 积分"),
        ("保温杯", False, "差 2420 积分"),
    ]


def test_rewards_for_a_tier_are_hidden_from_others(api):
    _reward(api, name="金卡专享", points_price=100, tiers=["gold"])
    member = _member_with(api, 1000)
    assert api.get(f"/v1/members/{member['id']}/rewards").json() == []


def test_cancel_returns_the_points_with_their_old_expiry_and_the_stock(api, session, db):
    from loyalty.ledger.jobs import expire_lots

    api.store("SH001")
    tea = _reward(api)
    member = _member_with(api, 600, START - timedelta(days=300))
    before = api.points(member["id"])["expiring"]
    _redeem(api, member, tea, store_code="SH001")
    cancelled = api.ok("/v1/redemptions/RD-1/cancel")
    assert cancelled["status"] == "cancelled"
    assert api.points(member["id"])["expiring"] == before
    assert api.get(f"/v1/rewards/{tea['id']}").json()["stock"] == 20
    kinds = [e["kind"] for e in api.get(f"/v1/members/{member['id']}/ledger").json()["items"]]
    assert kinds[:2] == ["reverse", "redeem"]
    assert api.post("/v1/redemptions/RD-1/cancel").status_code == 409
    assert expire_lots(db.transaction, START + timedelta(days=66), START).points == 600
    assert_balanced(session)


def test_limits_stock_and_exactly_once(api, session):
    api.store("SH001")
    tea = _reward(api, stock=2, limit_per_day=1)
    member = _member_with(api, 5000)
    first = _redeem(api, member, tea, store_code="SH001")
    assert _redeem(api, member, tea, store_code="SH001").json() == first.json()  # a retry
    other = _redeem(api, member, tea, rid="RD-1", store_code="SH001", quantity=2)
    assert other.status_code == 409 and other.json()["code"] == "redemption_conflict"
    limited = _redeem(api, member, tea, rid="RD-2", store_code="SH001")
    assert limited.status_code == 409 and limited.json()["detail"] == "今日兑换次数已满"
    second = _member_with(api, 5000)
    _redeem(api, second, tea, rid="RD-3", store_code="SH001")
    third = _member_with(api, 5000)
    gone = _redeem(api, third, tea, rid="RD-4", store_code="SH001")
    assert gone.status_code == 409 and gone.json()["detail"] == "已兑完"
    poor = _member_with(api, 100)
    short = _redeem(api, poor, _reward(api, name="x"), rid="RD-5", store_code="SH001")
    assert short.status_code == 409 and short.json()["detail"] == "差 400 积分"
    assert_balanced(session)


def test_points_cover_part_of_the_price_at_the_till(api, session):
    api.store("SH001")
    cake = _reward(api, name="蛋糕", points_price=2000, allow_partial=True)
    member = _member_with(api, 1500)
    body = _redeem(api, member, cake, store_code="SH001", points=1500).json()
    # 500 points short at ¥0.01 a point: ¥5 to pay.
    assert (body["points"], body["cash_due"]) == (1500, 500)
    assert api.points(member["id"])["available"] == 0
    assert_balanced(session)


def test_per_store_stock(api):
    api.store("SH001")
    api.store("BJ001")
    tea = _reward(api, stock=None)
    api.client.put(f"/v1/rewards/{tea['id']}/stock/SH001", json={"stock": 1}, headers=api.headers)
    member = _member_with(api, 5000)
    assert _redeem(api, member, tea, store_code="SH001").status_code == 201
    empty = _redeem(api, member, tea, rid="RD-2", store_code="SH001")
    assert empty.json()["detail"] == "该门店已兑完"
    assert _redeem(api, member, tea, rid="RD-3", store_code="BJ001").json()["detail"] == (
        "该门店不提供此礼品"
    )


def test_mall_report(api):
    api.store("SH001")
    tea = _reward(api)
    member = _member_with(api, 1000)
    _redeem(api, member, tea, store_code="SH001")
    report = api.get(
        "/v1/reports/rewards",
        params={
            "from": (START - timedelta(days=1)).isoformat(),
            "to": (START + timedelta(days=1)).isoformat(),
        },
    ).json()
    assert report["redemption_rate"] == 0.5
    assert report["popular"][0]["name"] == "中杯奶茶"
    assert report["rewards"][0]["stock_left"] == 19


def test_a_coupon_reward_is_issued_at_once(api, session):
    template = api.ok(
        "/v1/coupon-templates",
        {
            "name": "满50减10",
            "kind": "amount_off",
            "amount_off": 1_000,
            "min_spend": 5_000,
            "valid_days": 30,
        },
        201,
    )
    reward = _reward(
        api,
        name="满50减10券",
        kind="coupon",
        fulfilment="instant",
        points_price=300,
        coupon_template_id=template["id"],
    )
    member = _member_with(api, 500)
    body = _redeem(api, member, reward).json()
    assert body["status"] == "completed" and body["coupon_code"]
    mine = api.get(f"/v1/members/{member['id']}/coupons").json()["items"]
    assert [c["code"] for c in mine] == [body["coupon_code"]]
    assert_balanced(session)


def test_stored_value_bought_with_points(api, session):
    reward = _reward(
        api,
        name="¥10 储值",
        kind="stored_value",
        fulfilment="instant",
        points_price=1_000,
        stored_value_amount=1_000,
    )
    member = _member_with(api, 1_000)
    assert _redeem(api, member, reward).json()["status"] == "completed"
    assert api.get(f"/v1/members/{member['id']}/wallet").json()["balance"] == 1_000
    assert_balanced(session)


def test_uncollected_pickups_expire_and_give_the_points_back(api, db, session):
    from loyalty.jobs.registry import JOBS

    api.store("SH001")
    tea = _reward(api, pickup_days=7)
    member = _member_with(api, 500)
    _redeem(api, member, tea, store_code="SH001")
    job, _ = JOBS["expire-pickups"]
    assert job(db, START + timedelta(days=6), START, None).rows == 0
    assert job(db, START + timedelta(days=7), START, None).rows == 1
    assert api.get("/v1/redemptions/RD-1").json()["status"] == "expired"
    assert api.points(member["id"])["available"] == 500
    assert_balanced(session)
