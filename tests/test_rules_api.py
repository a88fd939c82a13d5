"""Earning rules and tiers through the API, in the words of the brief."""

from datetime import timedelta

from sqlalchemy import select

from loyalty.notifications.models import OutboxEvent
from loyalty.tiers.jobs import evaluate_tiers
from tests.conftest import START, assert_balanced

THURSDAY = START + timedelta(days=1)
WEDNESDAY_DOUBLE = {
    "name": "周三双倍积分",
    "name_en": "Wednesday double points",
    "kind": "multiplier",
    "factor": "2",
    "conditions": {"weekdays": [3]},
    "status": "enabled",
}


def test_wednesday_double_points_and_its_explanation(api, session):
    rule = api.ok("/v1/rules", WEDNESDAY_DOUBLE, 201)
    member = api.member()
    answer = api.order(member["id"], 6_000, START)
    assert answer["points"]["awarded"] == 120
    assert answer["breakdown"][1] == {
        "rule_id": rule["id"],
        "rule_version": 1,
        "rule": "multiplier",
        "description": "周三双倍积分 ×2: +60",
        "description_en": "Wednesday double points ×2: +60",
        "points": 60,
    }
    assert api.order(member["id"], 6_000, THURSDAY)["points"]["awarded"] == 60
    assert_balanced(session)


def test_a_retry_after_the_rule_ended_gets_the_first_explanation(api, session):
    """The till retries after the campaign was switched off: the answer is the first one,
    award by award, for a single order and in a batch."""
    rule = api.ok("/v1/rules", WEDNESDAY_DOUBLE, 201)
    member = api.member()
    single = api.order_body(member["id"], 6_000, START, order_id="W-1")
    batch = {"orders": [api.order_body(member["id"], 3_000, START, order_id="W-2")]}
    first, first_batch = api.post("/v1/orders", single), api.post("/v1/orders/batch", batch)
    off = api.client.patch(
        f"/v1/rules/{rule['id']}", json={"status": "disabled"}, headers=api.headers
    )
    assert off.status_code == 200
    again, again_batch = api.post("/v1/orders", single), api.post("/v1/orders/batch", batch)
    assert again.json() == first.json()
    assert again.json()["breakdown"][1]["description"] == "周三双倍积分 ×2: +60"
    assert again_batch.json() == first_batch.json()
    assert again_batch.json()["results"][0]["body"]["points"]["awarded"] == 60
    assert api.points(member["id"])["available"] == 180
    assert_balanced(session)


def test_a_rule_change_is_a_new_version_and_history_keeps_the_old(api):
    rule = api.ok("/v1/rules", WEDNESDAY_DOUBLE, 201)
    member = api.member()
    api.order(member["id"], 1_000, START, order_id="V1")
    changed = api.client.patch(f"/v1/rules/{rule['id']}", json={"factor": "3"}, headers=api.headers)
    assert changed.status_code == 200 and changed.json()["version"] == 2
    api.order(member["id"], 1_000, START, order_id="V2")
    entries = {
        e["source"]["id"]: e for e in api.get(f"/v1/members/{member['id']}/ledger").json()["items"]
    }
    assert [b["rule_version"] for b in entries["V1"]["breakdown"]][1] == 1
    assert entries["V1"]["points"] == 20 and entries["V2"]["points"] == 30
    versions = api.get(f"/v1/rules/{rule['id']}/versions").json()
    assert [v["definition"]["factor"] for v in versions] == ["2", "3"]
    api.post(f"/v1/rules/{rule['id']}/disable")
    assert api.order(member["id"], 1_000, START, order_id="V3")["points"]["awarded"] == 10


def test_impossible_rules_are_a_clear_422(api):
    r = api.post("/v1/rules", {"name": "x", "kind": "multiplier", "factor": "0.5"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_rule"
    assert r.json()["field"] == "factor"


def test_a_store_group_override_of_the_chain_rule(api):
    api.store("SH009", groups=["mall"])
    api.store("SH001")
    api.ok(
        "/v1/rules",
        {
            "name": "商场店每元 2 分",
            "kind": "base_rate",
            "points": 2,
            "per_amount": 100,
            "conditions": {"store_groups": ["mall"]},
            "status": "enabled",
        },
        201,
    )
    member = api.member()
    assert api.order(member["id"], 5_000, THURSDAY, store_code="SH009")["points"]["awarded"] == 100
    assert api.order(member["id"], 5_000, THURSDAY, store_code="SH001")["points"]["awarded"] == 50


def test_new_products_double_and_a_refund_reverses_the_multiplied_points(api, session):
    api.ok(
        "/v1/rules",
        {
            "name": "新品双倍",
            "kind": "multiplier",
            "factor": "2",
            "conditions": {"tags": ["new_product"]},
            "status": "enabled",
        },
        201,
    )
    member = api.member()
    lines = [
        {"sku": "NEW-1", "amount": 3_000, "tags": ["new_product"]},
        {"sku": "OLD-1", "amount": 2_000},
    ]
    answer = api.order(member["id"], 5_000, THURSDAY, order_id="NP", lines=lines)
    assert answer["points"]["awarded"] == 80
    assert api.refund("NP", "R-NP", 5_000).json()["points_reversed"] == 80
    assert api.points(member["id"])["available"] == 0
    assert_balanced(session)


def test_birthday_double_points_in_the_members_own_month(api):
    api.ok(
        "/v1/rules",
        {
            "name": "生日月双倍",
            "kind": "multiplier",
            "factor": "2",
            "conditions": {"birthday": "month"},
            "status": "enabled",
        },
        201,
    )
    march = api.member(birthday="1995-03-20")
    june = api.member(birthday="1995-06-20")
    assert api.order(march["id"], 1_000, THURSDAY)["points"]["awarded"] == 20
    assert api.order(june["id"], 1_000, THURSDAY)["points"]["awarded"] == 10


def test_first_order_bonus_only_once(api):
    api.ok(
        "/v1/rules",
        {
            "name": "首单奖励",
            "kind": "bonus",
            "points": 50,
            "conditions": {"first_order": True},
            "status": "enabled",
        },
        201,
    )
    member = api.member()
    assert api.order(member["id"], 1_000, THURSDAY)["points"]["awarded"] == 60
    assert api.order(member["id"], 1_000, THURSDAY)["points"]["awarded"] == 10


def test_daily_cap_per_member(api, clock):
    api.ok(
        "/v1/rules",
        {
            "name": "每单加 30",
            "kind": "bonus",
            "points": 30,
            "cap_per_member_day": 50,
            "status": "enabled",
        },
        201,
    )
    member = api.member()
    awarded = [api.order(member["id"], 0, THURSDAY)["points"]["awarded"] for _ in range(3)]
    assert awarded == [30, 20, 0]
    clock.advance(days=2)
    assert api.order(member["id"], 0, THURSDAY + timedelta(days=1))["points"]["awarded"] == 30


def test_silver_at_2000_in_30_days_then_earns_1_2(api, db, session):
    api.client.put(
        "/v1/tiers/silver",
        headers=api.headers,
        json={
            "name": "银卡",
            "name_en": "Silver",
            "rank": 1,
            "metric": "spend",
            "threshold": 200_000,
            "window_days": 30,
            "multiplier": "1.2",
        },
    )
    api.client.put(
        "/v1/tiers/gold",
        headers=api.headers,
        json={
            "name": "金卡",
            "name_en": "Gold",
            "rank": 2,
            "metric": "spend",
            "threshold": 500_000,
            "window_days": 30,
            "multiplier": "1.5",
        },
    )
    member = api.member()
    api.order(member["id"], 150_000, START - timedelta(days=10))
    progress = api.get(f"/v1/members/{member['id']}/tier").json()
    assert progress["code"] == "base"
    assert progress["next"]["remaining"] == 50_000
    assert progress["next"]["hint"] == "再消费 ¥500.00 升级银卡"
    api.order(member["id"], 50_000, START)
    assert api.get(f"/v1/members/{member['id']}").json()["tier"] == {
        "code": "silver",
        "name": "银卡",
    }
    answer = api.order(member["id"], 10_000, START)
    assert answer["points"]["awarded"] == 120
    assert answer["breakdown"][-1]["description"] == "银卡会员 ×1.2: +20"
    # 45 days later without buying, the tiers job takes the member back down.
    assert evaluate_tiers(db.transaction, START + timedelta(days=45), START).members == 1
    tier = api.get(f"/v1/members/{member['id']}/tier").json()
    assert tier["code"] == "base"
    assert [(h["from"], h["to"], h["reason"]) for h in tier["history"]] == [
        ("base", "silver", "upgrade"),
        ("silver", "base", "requalify"),
    ]
    assert_balanced(session)


def test_one_batch_lifts_every_member_it_qualifies_each_with_history_and_event(api, session):
    silver = {"name": "银卡", "name_en": "Silver", "rank": 1, "metric": "spend"}
    silver |= {"threshold": 100_000, "window_days": 30, "multiplier": "1.2"}
    assert api.client.put("/v1/tiers/silver", headers=api.headers, json=silver).is_success
    lifted, stays = [api.member() for _ in range(3)], api.member()
    orders = [api.order_body(m["id"], 120_000, START) for m in lifted]
    orders.append(api.order_body(stays["id"], 50_000, START))
    answer = api.post("/v1/orders/batch", {"orders": orders})
    assert answer.status_code == 200, answer.text
    for m in lifted:
        tier = api.get(f"/v1/members/{m['id']}/tier").json()
        assert (tier["code"], [(h["from"], h["to"]) for h in tier["history"]]) == (
            "silver",
            [("base", "silver")],
        )
    assert api.get(f"/v1/members/{stays['id']}/tier").json()["code"] == "base"
    events = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "tier.changed"))
    assert sorted(e.member_id for e in events) == sorted(m["id"] for m in lifted)


def test_backtest_prices_a_draft_rule_on_real_history(api):
    api.store("SH001")
    api.store("BJ001")
    member = api.member()
    for day in range(14):  # two weeks of ¥50 orders, alternating stores
        api.order(
            member["id"],
            5_000,
            START - timedelta(days=14 - day),
            store_code="SH001" if day % 2 else "BJ001",
        )
    report = api.ok(
        "/v1/rules/backtest",
        {
            "rule": {
                "name": "周三双倍积分",
                "kind": "multiplier",
                "factor": "2",
                "conditions": {"weekdays": [3]},
            },
            "from": (START - timedelta(days=14)).isoformat(),
            "to": START.isoformat(),
        },
    )
    assert report["orders_scanned"] == 14 and report["orders_affected"] == 2
    assert report["extra_points"] == 100 and report["cost_amount"] == 100
    assert report["members_affected"] == 1
    assert sorted((s["store_code"], s["extra_points"]) for s in report["by_store"]) == [
        ("BJ001", 50),
        ("SH001", 50),
    ]
    assert [d["day"] for d in report["by_day"]] == ["2026-02-18", "2026-02-25"]


def test_budgeted_rule_never_gives_more_than_its_budget(api, session):
    from loyalty.rules.models import Rule

    api.ok(
        "/v1/rules",
        {
            "name": "开业活动加 40",
            "kind": "bonus",
            "points": 40,
            "budget": 100,
            "status": "enabled",
        },
        201,
    )
    member = api.member()
    awarded = [api.order(member["id"], 0, THURSDAY)["points"]["awarded"] for _ in range(4)]
    assert awarded == [40, 40, 20, 0]
    assert session.scalar(select(Rule.budget_used)) == 100


def test_a_rule_for_a_segment_of_members(api):
    api.ok(
        "/v1/rules",
        {
            "name": "VIP 加 20",
            "kind": "bonus",
            "points": 20,
            "conditions": {"segments": ["vip"]},
            "status": "enabled",
        },
        201,
    )
    vip, other = api.member(), api.member()
    tagged = api.client.put(f"/v1/members/{vip['id']}/tags/vip", headers=api.headers)
    assert tagged.json()["tags"] == ["vip"]
    assert api.get(f"/v1/members/{vip['id']}").json()["tags"] == ["vip"]
    assert api.order(vip["id"], 1_000, THURSDAY)["points"]["awarded"] == 30
    assert api.order(other["id"], 1_000, THURSDAY)["points"]["awarded"] == 10
    api.client.delete(f"/v1/members/{vip['id']}/tags/vip", headers=api.headers)
    assert api.order(vip["id"], 1_000, THURSDAY)["points"]["awarded"] == 10


SILVER_TIER = {
    "name": "银卡",
    "rank": 1,
    "metric": "spend",
    "threshold": 200_000,
    "window_days": 30,
    "multiplier": "1.2",
}


def delete_tier(api, code):
    return api.client.delete(f"/v1/tiers/{code}", headers=api.headers)


def test_a_tier_nobody_holds_is_deleted_and_the_ladder_forgets_it(api):
    api.client.put("/v1/tiers/silver", headers=api.headers, json=SILVER_TIER)
    gone = delete_tier(api, "silver")
    assert gone.status_code == 200, gone.text
    assert gone.json()["code"] == "silver" and gone.json()["deleted"] is True
    assert [t["code"] for t in api.get("/v1/tiers").json()] == ["base"]
    member = api.member()
    api.order(member["id"], 300_000, START)  # would have made silver: the new ladder is used
    assert api.get(f"/v1/members/{member['id']}").json()["tier"]["code"] == "base"
    again = delete_tier(api, "silver")
    assert again.status_code == 404 and again.json()["code"] == "tier_not_found"


def test_the_base_tier_cannot_be_deleted(api):
    r = delete_tier(api, "base")
    assert r.status_code == 409 and r.json()["code"] == "tier_is_base"


def test_a_tier_members_hold_is_kept_and_says_how_many(api):
    api.client.put("/v1/tiers/silver", headers=api.headers, json=SILVER_TIER)
    for _ in range(2):
        api.order(api.member()["id"], 200_000, START)
    r = delete_tier(api, "silver")
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "tier_in_use" and r.json()["members"] == 2
    assert "2 members" in r.json()["detail"]
    assert [t["code"] for t in api.get("/v1/tiers").json()] == ["base", "silver"]


def test_a_tier_a_rule_names_is_kept_and_the_rules_are_named(api):
    api.client.put("/v1/tiers/silver", headers=api.headers, json=SILVER_TIER)
    rule = api.ok(
        "/v1/rules",
        {**WEDNESDAY_DOUBLE, "name": "银卡周三双倍", "conditions": {"tiers": ["silver"]}},
        201,
    )
    off = api.client.patch(
        f"/v1/rules/{rule['id']}", json={"status": "disabled"}, headers=api.headers
    )
    assert off.status_code == 200 and off.json()["status"] == "disabled"
    r = delete_tier(api, "silver")  # a disabled rule counts: it could be switched back on
    assert r.status_code == 409 and r.json()["code"] == "tier_in_use_by_rules"
    assert r.json()["rules"] == [{"id": rule["id"], "name": "银卡周三双倍"}]
    assert "银卡周三双倍" in r.json()["detail"]


def test_a_tier_rewards_are_shown_to_is_kept_and_the_rewards_are_named(api):
    api.client.put("/v1/tiers/silver", headers=api.headers, json=SILVER_TIER)
    reward = api.ok(
        "/v1/rewards",
        {"name": "银卡专享杯", "points_price": 300, "stock": 5, "tiers": ["silver"]},
        201,
    )
    r = delete_tier(api, "silver")  # the reward would be shown to nobody
    assert r.status_code == 409 and r.json()["code"] == "tier_in_use_by_rewards"
    assert r.json()["rewards"] == [{"id": reward["id"], "name": "银卡专享杯"}]


def test_deleting_a_tier_keeps_the_members_tier_history(api, db, session):
    api.client.put("/v1/tiers/silver", headers=api.headers, json=SILVER_TIER)
    member = api.member()
    api.order(member["id"], 200_000, START)
    evaluate_tiers(db.transaction, START + timedelta(days=45), START)  # back down to base
    assert delete_tier(api, "silver").status_code == 200
    history = api.get(f"/v1/members/{member['id']}/tier").json()["history"]
    assert [(h["from"], h["to"]) for h in history] == [("base", "silver"), ("silver", "base")]


def test_only_an_admin_key_deletes_a_tier(api, session):
    from tests.factories import Api, key_for

    api.client.put("/v1/tiers/silver", headers=api.headers, json=SILVER_TIER)
    reader = Api(api.client, key_for(session, "readonly"))
    assert reader.client.delete("/v1/tiers/silver", headers=reader.headers).status_code == 403
    assert len(api.get("/v1/tiers").json()) == 2
