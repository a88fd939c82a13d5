"""One member across every channel: identifiers, lookup and merging two accounts."""

from datetime import timedelta

from loyalty.members.models import Member
from tests.conftest import START, assert_balanced


def test_register_with_any_identifier_and_look_up_by_each(api):
    api.store("HZ001", channel="store", region="杭州")
    member = api.member(
        "138 0013 8000",
        name="李娜",
        birthday="1990-05-20",
        store_code="HZ001",
        identifiers=[
            {"type": "wechat_openid", "value": "oX1-abc"},
            {"type": "card", "value": "8800123"},
            {"type": "meituan_uid", "value": "mt-42"},
        ],
    )
    assert member["phone"] == "+8613800138000"
    assert member["member_no"].isdigit() and len(member["member_no"]) == 10
    assert member["tier"] == {"code": "base", "name": "普通会员"}
    assert member["store_code"] == "HZ001" and member["channel"] == "store"
    for type_, value in [
        ("phone", "13800138000"),
        ("phone", "+86 138-0013-8000"),
        ("wechat_openid", "oX1-abc"),
        ("card", "8800123"),
        ("meituan_uid", "mt-42"),
    ]:
        found = api.get("/v1/members/lookup", params={"type": type_, "value": value})
        assert found.status_code == 200, (type_, found.text)
        assert found.json()["id"] == member["id"]


def test_unknown_identifier_is_member_not_found(api):
    r = api.get("/v1/members/lookup", params={"type": "card", "value": "nobody"})
    assert r.status_code == 404 and r.json()["code"] == "member_not_found"


def test_an_identifier_belongs_to_one_member(api):
    first = api.member("13900000001")
    clash = api.post("/v1/members", {"phone": "13900000001"})
    assert clash.status_code == 409 and clash.json()["code"] == "identifier_taken"
    second = api.member("13900000002")
    link = api.post(
        f"/v1/members/{second['id']}/identifiers", {"type": "phone", "value": "13900000001"}
    )
    assert link.status_code == 409 and link.json()["member_id"] == first["id"]
    ok = api.post(
        f"/v1/members/{second['id']}/identifiers", {"type": "alipay_uid", "value": "2088-1"}
    )
    assert ok.status_code == 201
    assert api.get(f"/v1/members/{second['id']}").json()["identifiers"] == [
        {"type": "phone", "value": "+8613900000002"},
        {"type": "alipay_uid", "value": "2088-1"},
    ]


def test_invalid_phone_numbers_are_refused(api):
    for phone in ["12345", "not a phone", "+86 100 0000 0000"]:
        r = api.post("/v1/members", {"phone": phone})
        assert r.status_code == 422 and r.json()["code"] == "invalid_phone", phone


def test_referral_code_links_the_referrer(api):
    referrer = api.member()
    referee = api.member(referral_code=referrer["referral_code"].lower())
    assert referee["referrer_id"] == referrer["id"]
    r = api.post("/v1/members", {"phone": "13700000009", "referral_code": "ZZZZZZZZ"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_referral_code"


def test_merging_two_accounts_of_one_person_loses_nothing(api, db, session):
    online = api.member("13600000001", identifiers=[{"type": "wechat_openid", "value": "oA"}])
    offline = api.member("13600000002", name="王芳")
    api.order(online["id"], 10_000, START - timedelta(days=200), order_id="ON-1")
    api.order(offline["id"], 5_000, START, order_id="OFF-1")
    hold = api.hold(offline["id"], 20).json()
    merged = api.post(f"/v1/members/{online['id']}/merge", {"source_member_id": offline["id"]})
    assert merged.status_code == 200, merged.text
    assert merged.json()["name"] == "王芳"
    points = api.points(online["id"])
    assert (points["available"], points["held"], points["lifetime_earned"]) == (130, 20, 150)
    source = api.get(f"/v1/members/{offline['id']}").json()
    assert (source["status"], source["merged_into_id"]) == ("merged", online["id"])
    assert api.points(offline["id"])["available"] == 0
    # Identifiers, history, open holds, orders and expiry dates all moved to the survivor.
    found = api.get("/v1/members/lookup", params={"type": "phone", "value": "13600000002"})
    assert found.json()["id"] == online["id"]
    history = api.get(f"/v1/members/{online['id']}/ledger").json()["items"]
    assert {e["source"]["id"] for e in history if e["kind"] == "earn"} == {"ON-1", "OFF-1"}
    assert api.post(f"/v1/points/holds/{hold['id']}/capture").status_code == 200
    assert api.refund("OFF-1", "R-OFF-1", 5_000).json()["member_id"] == online["id"]
    # The capture spent the soonest-expiring points (the online lot); the refund took the
    # offline order's own lot. What is left keeps its original expiry.
    assert api.points(online["id"])["expiring"] == [
        {"points": 80, "expires_at": (START + timedelta(days=165)).isoformat()}
    ]
    assert_balanced(session)


def test_orders_for_a_merged_account_land_on_the_survivor(api, session):
    a, b = api.member(), api.member()
    api.post(f"/v1/members/{a['id']}/merge", {"source_member_id": b["id"]})
    answer = api.order(b["id"], 1_000, START)
    assert answer["member_id"] == a["id"]
    assert api.points(a["id"])["available"] == 10
    assert_balanced(session)


def test_a_merge_carries_the_order_count_and_the_last_visit(api, session):
    a, b = api.member(), api.member()
    api.order(a["id"], 1_000, START - timedelta(days=9))
    api.order(b["id"], 2_000, START - timedelta(days=2))
    api.order(b["id"], 3_000, START - timedelta(days=1))
    api.post(f"/v1/members/{a['id']}/merge", {"source_member_id": b["id"]})
    survivor, source = session.get(Member, a["id"]), session.get(Member, b["id"])
    session.refresh(survivor)
    session.refresh(source)
    assert survivor.orders_count == 3 and source.orders_count == 0
    assert survivor.last_order_at == START - timedelta(days=1)


def test_merging_a_member_into_itself_or_twice_is_refused(api):
    a, b = api.member(), api.member()
    same = api.post(f"/v1/members/{a['id']}/merge", {"source_member_id": a["id"]})
    assert same.status_code == 422 and same.json()["code"] == "invalid_merge"
    first = api.post(f"/v1/members/{a['id']}/merge", {"source_member_id": b["id"]})
    assert first.status_code == 200
    twice = api.post(f"/v1/members/{a['id']}/merge", {"source_member_id": b["id"]})
    assert twice.status_code == 422 and twice.json()["code"] == "invalid_merge"


def test_ledger_history_is_paginated_newest_first(api):
    member = api.member()
    for i in range(7):
        api.order(member["id"], 1_000 + i * 100, START, order_id=f"PG-{i}")
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/v1/members/{member['id']}/ledger", params=params).json()
        seen += [e["source"]["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"PG-{i}" for i in reversed(range(7))]
    bad = api.get(f"/v1/members/{member['id']}/ledger", params={"cursor": "garbage!"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


def test_a_merge_hands_the_survivor_the_coupons_pickups_draws_addresses_and_tags(api, session):
    """One person, two accounts: nothing they own stays behind on the merged one."""
    from tests.test_coupons import issue, template
    from tests.test_points_mall import _redeem, _reward

    api.store("SH001")
    a, b = api.member(), api.member()
    api.order(b["id"], 80_000, START)
    coupon = issue(api, template(api)["id"], b["id"]).json()
    pickup = _redeem(api, b, _reward(api), store_code="SH001").json()
    for member, tag in ((a, "vip"), (b, "vip"), (b, "tea_lover")):
        put = api.client.put(f"/v1/members/{member['id']}/tags/{tag}", headers=api.headers)
        assert put.status_code == 200, put.text
    address = {"recipient": "王芳", "phone": "13800138000", "region": "上海市"}
    address["detail"] = "静安路 1 号"
    api.post(f"/v1/members/{a['id']}/addresses", address)
    api.post(f"/v1/members/{b['id']}/addresses", {**address, "detail": "长宁路 2 号"})

    merged = api.post(f"/v1/members/{a['id']}/merge", {"source_member_id": b["id"]})
    assert merged.status_code == 200, merged.text

    coupons = api.get(f"/v1/members/{a['id']}/coupons").json()["items"]
    assert [c["code"] for c in coupons] == [coupon["code"]]
    assert api.get(f"/v1/redemptions/{pickup['redemption_id']}").json()["member_id"] == a["id"]
    assert api.get(f"/v1/members/{a['id']}").json()["tags"] == ["tea_lover", "vip"]
    addresses = api.get(f"/v1/members/{a['id']}/addresses").json()
    assert sorted((x["detail"], x["is_default"]) for x in addresses) == [
        ("长宁路 2 号", False),
        ("静安路 1 号", True),
    ]
    assert api.points(a["id"])["available"] == 800 - 500
    assert_balanced(session)
