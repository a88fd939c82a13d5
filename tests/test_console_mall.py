"""The points mall in the console: rewards on and off the shelf, redemption orders, the
counter where a clerk verifies pickup and coupon codes, coupons and lotteries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from loyalty.coupons.models import Coupon, CouponTemplate
from loyalty.lotteries.models import Lottery, LotteryPrize
from loyalty.rewards.models import Redemption, Reward
from loyalty.users.models import AuditEntry
from tests.conftest import START, assert_balanced
from tests.web import Browser, browser, make_user

TEA = {"name": "中杯奶茶", "points_price": 500, "stock": 20, "fulfilment": "pickup"}


def signed_in(app: Any, session: Any, role: str, stores: list[str] | None = None) -> Browser:
    b = browser(app)
    b.sign_in(make_user(session, role, stores))
    return b


def audited(session: Any, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def member_with_points(api: Any, points: int, **profile: Any) -> dict[str, Any]:
    member = api.member(**profile)
    api.order(member["id"], points * 100, START - timedelta(hours=1))
    return member


def pickup(api: Any, store: str = "SH001", name: str = "张三丰") -> tuple[dict, dict]:
    """A member who redeemed a medium tea to pick up at ``store``."""
    tea = api.ok("/v1/rewards", TEA, 201)
    member = member_with_points(api, 800, name=name, phone="13912345678")
    body = {
        "redemption_id": "RD-1",
        "member_id": member["id"],
        "reward_id": tea["id"],
        "store_code": store,
    }
    return member, api.ok("/v1/redemptions", body, 201)


def csv_rows(answer: Any) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


# --- rewards ---------------------------------------------------------------------------------


REWARD_FORM = {
    "name": "保温杯",
    "kind": "gift",
    "fulfilment": "pickup",
    "points_price": "3000",
    "cash_price": "5.50",
    "stock": "100",
    "status": "on",
    "available_until": "2026-12-31T22:00",
}


def test_hq_puts_a_reward_in_the_mall_through_the_form_and_takes_it_off_the_shelf(app, session):
    hq = signed_in(app, session, "hq")
    form = hq.get("/console/rewards/new")
    assert form.status_code == 200 and "保存商品" in form.text
    saved = hq.post("/console/rewards", REWARD_FORM)
    assert saved.status_code == 303, saved.text
    cup = session.scalar(select(Reward).where(Reward.name == "保温杯"))
    assert (cup.points_price, cup.cash_price, cup.stock, cup.status) == (3000, 550, 100, "on")
    assert cup.available_until.isoformat() == "2026-12-31T14:00:00+00:00"  # 22:00 in Shanghai
    listing = hq.get("/console/rewards")
    assert "保温杯" in listing.text and "¥5.50" in listing.text and "已上架" in listing.text
    assert [a.target_id for a in audited(session, "reward.save")] == [str(cup.id)]

    row = hq.htmx(f"/console/rewards/{cup.id}/shelf")
    assert row.status_code == 200 and "已下架" in row.text and "<tr" in row.text
    session.refresh(cup)
    assert cup.status == "off"
    assert len(audited(session, "reward.shelf")) == 1


def test_a_bad_reward_form_says_what_is_wrong_and_saves_nothing(app, session):
    hq = signed_in(app, session, "hq")
    hq.get("/console/rewards/new")
    bad = hq.post(
        "/console/rewards", {**REWARD_FORM, "points_price": "很多", "cash_price": "1.234"}
    )
    assert bad.status_code == 422
    assert "请输入整数" in bad.text and "请输入以元为单位的金额" in bad.text
    assert 'value="保温杯"' in bad.text  # what was typed stays
    mismatch = hq.post("/console/rewards", {**REWARD_FORM, "kind": "coupon"})
    assert mismatch.status_code == 422 and "无效的商品" in mismatch.text
    assert session.scalar(select(Reward).where(Reward.name == "保温杯")) is None
    assert audited(session, "reward.save") == []


def test_stock_is_adjusted_overall_and_per_store(app, session, api):
    api.store("SH001")
    tea = api.ok("/v1/rewards", TEA, 201)
    hq = signed_in(app, session, "hq")
    hq.get(f"/console/rewards/{tea['id']}")
    done = hq.post(
        f"/console/rewards/{tea['id']}/stock",
        {"stock": "50", "store_code": "SH001", "store_stock": "8"},
    )
    assert done.status_code == 303
    page = hq.get("/console/rewards")
    assert "SH001: 8" in page.text
    assert api.get(f"/v1/rewards/{tea['id']}").json()["stock"] == 50
    assert audited(session, "reward.stock")[0].details["store_stock"] == 8


# --- the counter -----------------------------------------------------------------------------


def test_a_clerk_verifies_a_pickup_code_once_and_the_second_time_sees_when_and_where(
    app, session, api, clock
):
    api.store("SH001", name="静安店")
    _, redemption = pickup(api)
    code = redemption["pickup_code"]
    clerk = signed_in(app, session, "clerk", ["SH001"])
    page = clerk.get("/console/counter")
    assert page.status_code == 200
    assert '<input id="code" name="code" autofocus' in page.text
    assert '<div id="verdict" role="status" aria-live="polite">' in page.text

    valid = clerk.htmx("/console/counter/check", {"code": code, "store": "SH001"})
    assert "有效取货码" in valid.text and "中杯奶茶" in valid.text
    assert "张**" in valid.text and "139****5678" in valid.text and "张三丰" not in valid.text
    assert "确认交付" in valid.text
    row = session.scalar(select(Redemption).where(Redemption.pickup_code == code))
    assert row.status == "pending"  # checking changes nothing

    clock.advance(minutes=5)
    done = clerk.htmx("/console/counter/confirm", {"code": code, "store": "SH001"})
    assert "已交付" in done.text
    session.refresh(row)
    assert (row.status, row.verified_at) == ("fulfilled", START + timedelta(minutes=5))
    entry = audited(session, "counter.verify")[0]
    assert entry.details == {"store_code": "SH001", "outcome": "ok"}

    again = clerk.htmx("/console/counter/check", {"code": f" {code[:4]}-{code[4:]} "})
    assert "该券码已核销" in again.text and "静安店" in again.text
    assert "10:05" in again.text  # 02:05 UTC, shown in Shanghai time
    assert "确认交付" not in again.text


def test_a_clerk_of_another_store_is_refused_and_sees_nothing_of_that_member(app, session, api):
    api.store("SH001")
    api.store("BJ001")
    _, redemption = pickup(api, "SH001")
    code = redemption["pickup_code"]
    other = signed_in(app, session, "clerk", ["BJ001"])
    other.get("/console/counter")
    refused = other.htmx("/console/counter/check", {"code": code, "store": "BJ001"})
    assert "不在本门店自提" in refused.text
    for secret in ("张", "5678", "中杯奶茶"):
        assert secret not in refused.text
    forced = other.htmx("/console/counter/confirm", {"code": code, "store": "BJ001"})
    assert "不在本门店自提" in forced.text and "张" not in forced.text
    not_mine = other.htmx("/console/counter/check", {"code": code, "store": "SH001"})
    assert not_mine.status_code == 403
    row = session.scalar(select(Redemption).where(Redemption.pickup_code == code))
    assert row.status == "pending" and row.verified_at is None
    listing = other.get("/console/redemptions")
    assert listing.status_code == 200 and code not in listing.text and "张三丰" not in listing.text
    assert "没有符合条件的兑换订单" in other.get(f"/console/redemptions?code={code}").text
    assert {e.details["outcome"] for e in audited(session, "counter.verify")} == {"wrong_store"}


def test_an_unknown_code_is_refused_in_chinese(app, session, api):
    api.store("SH001")
    clerk = signed_in(app, session, "clerk", ["SH001"])
    clerk.get("/console/counter")
    answer = clerk.htmx("/console/counter/check", {"code": "12345678"})
    assert "未知券码" in answer.text


def test_a_clerk_working_for_two_stores_chooses_the_store(app, session, api):
    api.store("SH001", name="静安店")
    api.store("SH002", name="徐汇店")
    clerk = signed_in(app, session, "clerk", ["SH001", "SH002"])
    page = clerk.get("/console/counter")
    assert '<select id="store" name="store">' in page.text
    assert "静安店" in page.text and "徐汇店" in page.text


# --- redemptions -----------------------------------------------------------------------------


def test_cancelling_a_redemption_in_the_console_gives_the_points_back(app, session, api):
    api.store("SH001")
    member, redemption = pickup(api)
    assert api.points(member["id"])["available"] == 300
    owner = signed_in(app, session, "owner")
    listing = owner.get("/console/redemptions?status=pending")
    assert "中杯奶茶" in listing.text and redemption["pickup_code"] in listing.text
    row = session.scalar(select(Redemption).where(Redemption.redemption_id == "RD-1"))
    answer = owner.htmx(f"/console/redemptions/{row.id}/cancel")
    assert answer.status_code == 200 and "已取消" in answer.text
    assert api.points(member["id"])["available"] == 800
    session.refresh(row)
    assert row.status == "cancelled"
    assert audited(session, "redemption.cancel")[0].target_id == str(row.id)
    again = owner.htmx(f"/console/redemptions/{row.id}/cancel")
    assert "当前状态下无法操作" in again.text
    assert api.points(member["id"])["available"] == 800
    assert_balanced(session)


def test_a_clerk_hands_over_from_the_list_only_at_their_store(app, session, api):
    api.store("SH001")
    api.store("BJ001")
    pickup(api, "SH001")
    row = session.scalar(select(Redemption).where(Redemption.redemption_id == "RD-1"))
    other = signed_in(app, session, "clerk", ["BJ001"])
    other.get("/console/redemptions")
    assert other.htmx(f"/console/redemptions/{row.id}/fulfil").status_code == 403
    mine = signed_in(app, session, "clerk", ["SH001"])
    mine.get("/console/redemptions")
    done = mine.htmx(f"/console/redemptions/{row.id}/fulfil")
    assert "已交付" in done.text
    session.refresh(row)
    assert row.status == "fulfilled"


def test_redemptions_download_as_csv_and_excel(app, session, api):
    api.store("SH001")
    _, redemption = pickup(api)
    owner = signed_in(app, session, "owner")
    rows = csv_rows(owner.get("/console/redemptions?format=csv&status=pending"))
    assert rows[0][0] == "兑换编号" and rows[1][0] == "RD-1"
    assert redemption["pickup_code"] in rows[1]
    xlsx = owner.get("/console/redemptions?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    rewards = csv_rows(owner.get("/console/rewards?format=csv"))
    assert rewards[1][1] == "中杯奶茶"


# --- coupons ---------------------------------------------------------------------------------


def test_a_coupon_template_is_created_issued_by_phone_and_used_at_the_counter(app, session, api):
    api.store("SH001")
    api.member(name="李四", phone="13800138000")
    hq = signed_in(app, session, "hq")
    hq.get("/console/coupons/new")
    created = hq.post(
        "/console/coupons/templates",
        {
            "name": "满50减10",
            "kind": "amount_off",
            "amount_off": "10",
            "min_spend": "50",
            "valid_days": "30",
        },
    )
    assert created.status_code == 303, created.text
    template = session.scalar(select(CouponTemplate).where(CouponTemplate.name == "满50减10"))
    assert (template.amount_off, template.min_spend, template.valid_days) == (1000, 5000, 30)
    page = hq.get("/console/coupons")
    issued = hq.post(
        "/console/coupons/issue",
        {"template_id": str(template.id), "phone": "138 0013 8000", "issue_id": "x1"},
    )
    assert issued.status_code == 303
    twice = hq.post(
        "/console/coupons/issue",
        {"template_id": str(template.id), "phone": "13800138000", "issue_id": "x1"},
    )
    assert twice.status_code == 303  # a double click issues one coupon
    coupon = session.scalar(select(Coupon).where(Coupon.template_id == template.id))
    assert session.scalar(select(CouponTemplate.issued_count)) == 1
    assert coupon.code in hq.get("/console/coupons/issued").text
    assert audited(session, "coupon.issue") and page.status_code == 200

    clerk = signed_in(app, session, "clerk", ["SH001"])
    clerk.get("/console/counter")
    valid = clerk.htmx("/console/counter/check", {"code": coupon.code.lower()})
    assert "有效优惠券" in valid.text and "满50减10" in valid.text and "李*" in valid.text
    short = clerk.htmx("/console/counter/confirm", {"code": coupon.code, "amount": "40"})
    assert "未达到最低消费" in short.text
    used = clerk.htmx("/console/counter/confirm", {"code": coupon.code, "amount": "58.50"})
    assert "优惠券已核销" in used.text and "¥10.00" in used.text
    session.refresh(coupon)
    assert (coupon.status, coupon.discount, coupon.used_amount) == ("used", 1000, 5850)
    again = clerk.htmx("/console/counter/check", {"code": coupon.code})
    assert "优惠券已使用" in again.text and "门店 SH001" in again.text


def test_a_coupon_template_form_with_no_validity_is_refused(app, session):
    hq = signed_in(app, session, "hq")
    hq.get("/console/coupons/new")
    answer = hq.post(
        "/console/coupons/templates", {"name": "九折", "kind": "percent_off", "percent_off": "10"}
    )
    assert answer.status_code == 422 and "有效天数" in answer.text
    assert session.scalar(select(CouponTemplate)) is None


def test_coupons_go_to_a_whole_segment_and_can_be_voided(app, session, api):
    template = api.ok(
        "/v1/coupon-templates",
        {"name": "会员日券", "kind": "amount_off", "amount_off": 500, "valid_days": 7},
        201,
    )
    for phone in ("13800000001", "13800000002"):
        member = api.member(phone=phone)
        assert api.client.put(
            f"/v1/members/{member['id']}/tags/vip", headers=api.headers
        ).status_code in (200, 201, 204)
    api.member(phone="13800000003")
    hq = signed_in(app, session, "hq")
    page = hq.get("/console/coupons")
    assert "vip" in page.text
    done = hq.post("/console/coupons/bulk", {"template_id": str(template["id"]), "segment": "vip"})
    assert done.status_code == 303 and "n=2" in done.headers["location"]
    assert session.query(Coupon).count() == 2
    code = session.scalars(select(Coupon.code)).first()
    hq.get("/console/coupons/issued")
    assert hq.post(f"/console/coupons/{code}/void", {"reason": "发错了"}).status_code == 303
    coupon = session.scalar(select(Coupon).where(Coupon.code == code))
    assert (coupon.status, coupon.void_reason) == ("voided", "发错了")
    rows = csv_rows(hq.get("/console/coupons/issued?format=csv&status=voided"))
    assert len(rows) == 2 and rows[1][0] == code and rows[1][5] == "已作废"


# --- lotteries -------------------------------------------------------------------------------


def test_hq_creates_a_lottery_and_sees_every_draw(app, session, api):
    hq = signed_in(app, session, "hq")
    hq.get("/console/lotteries/new")
    form = {
        "name": "周末抽奖",
        "cost_points": "100",
        "daily_limit": "3",
        "status": "active",
        "starts_at": "2026-03-01T00:00",
        "ends_at": "2026-04-01T00:00",
        "prize_name": ["50 积分", "谢谢参与", ""],
        "prize_kind": ["points", "nothing", "points"],
        "prize_points": ["50", "", ""],
        "prize_template_id": ["", "", ""],
        "prize_description": ["", "", ""],
        "prize_weight": ["1", "3", ""],
        "prize_stock": ["10", "", ""],
        "prize_unit_cost": ["", "", ""],
    }
    saved = hq.post("/console/lotteries", form)
    assert saved.status_code == 303, saved.text
    lottery = session.scalar(select(Lottery).where(Lottery.name == "周末抽奖"))
    prizes = session.scalars(select(LotteryPrize).where(LotteryPrize.lottery_id == lottery.id))
    expected = [("50 积分", 1, 10), ("谢谢参与", 3, None)]
    assert [(p.name, p.weight, p.stock) for p in prizes] == expected
    assert audited(session, "lottery.save")[0].target_id == str(lottery.id)

    member = member_with_points(api, 1000)
    body = {"draw_id": "DRAW-1", "member_id": member["id"]}
    api.ok(f"/v1/lotteries/{lottery.id}/draws", body, 201)
    page = hq.get(f"/console/lotteries/{lottery.id}")
    assert "DRAW-1" in page.text and 'data-chart="prizes-drawn"' in page.text
    assert "25.0%" in page.text  # odds of the 50-point prize: 1 in 4
    rows = csv_rows(hq.get(f"/console/lotteries/{lottery.id}?format=csv"))
    assert rows[1][0] == "DRAW-1"
    assert "周末抽奖" in hq.get("/console/lotteries").text
    assert_balanced(session)


def test_a_lottery_without_prizes_is_refused(app, session):
    hq = signed_in(app, session, "hq")
    hq.get("/console/lotteries/new")
    form = {
        "name": "空抽奖",
        "cost_points": "100",
        "starts_at": "2026-03-01T00:00",
        "ends_at": "2026-02-01T00:00",
        "prize_name": [""],
    }
    answer = hq.post("/console/lotteries", form)
    assert answer.status_code == 422 and "至少添加一个奖品" in answer.text
    assert "结束时间必须晚于开始时间" in answer.text
    assert session.scalar(select(Lottery)) is None


# --- roles -----------------------------------------------------------------------------------


def test_an_analyst_sees_the_mall_but_cannot_change_it(app, session, api):
    tea = api.ok("/v1/rewards", TEA, 201)
    analyst = signed_in(app, session, "analyst")
    assert analyst.get("/console/rewards").status_code == 200
    assert analyst.get("/console/coupons").status_code == 200
    assert analyst.get("/console/lotteries").status_code == 200
    assert analyst.get("/console/rewards/new").status_code == 403
    assert analyst.htmx(f"/console/rewards/{tea['id']}/shelf").status_code == 403
    assert analyst.post("/console/rewards", REWARD_FORM).status_code == 403
    assert analyst.get("/console/counter").status_code == 403
    assert analyst.get("/console/coupons/new").status_code == 403
    assert api.get(f"/v1/rewards/{tea['id']}").json()["status"] == "on"


def test_a_clerk_uses_the_counter_but_not_the_catalog(app, session, api):
    api.store("SH001")
    clerk = signed_in(app, session, "clerk", ["SH001"])
    assert clerk.get("/console/counter").status_code == 200
    assert clerk.get("/console/rewards").status_code == 403
    assert clerk.get("/console/lotteries").status_code == 403


def test_a_change_without_the_csrf_token_is_refused(app, session, api):
    tea = api.ok("/v1/rewards", TEA, 201)
    hq = signed_in(app, session, "hq")
    hq.get("/console/rewards")
    hq.csrf = "forged"
    assert hq.post(f"/console/rewards/{tea['id']}/shelf").status_code == 403
    assert api.get(f"/v1/rewards/{tea['id']}").json()["status"] == "on"


def test_hq_changes_a_coupon_template_and_coupons_already_issued_keep_their_terms(
    app, session, api
):
    api.store("SH001")
    api.store("BJ001")
    template = api.ok(
        "/v1/coupon-templates",
        {
            "name": "满50减10",
            "kind": "amount_off",
            "amount_off": 1000,
            "min_spend": 5000,
            "valid_days": 30,
            "store_groups": ["east"],
        },
        201,
    )
    member = api.member(phone="13800138000")
    body = {"template_id": template["id"], "member_id": member["id"], "issue_id": "old"}
    old = api.ok("/v1/coupons", body, 201)
    hq = signed_in(app, session, "hq")
    form = hq.get(f"/console/coupons/templates/{template['id']}")
    assert form.status_code == 200 and "编辑优惠券模板" in form.text
    assert 'value="10.00"' in form.text and 'value="50.00"' in form.text
    assert "已发放的 1 张优惠券保持发放时的优惠条件和有效期不变" in form.text
    changed = hq.post(
        f"/console/coupons/templates/{template['id']}",
        {
            "name": "满80减20",
            "kind": "amount_off",
            "amount_off": "20",
            "min_spend": "80",
            "valid_days": "7",
            "store_codes": "SH001",
        },
    )
    assert changed.status_code == 303 and changed.headers["location"].endswith("done=edited")
    row = session.get(CouponTemplate, template["id"])
    session.refresh(row)
    assert (row.name, row.amount_off, row.min_spend, row.valid_days) == ("满80减20", 2000, 8000, 7)
    assert row.store_codes == ["SH001"] and row.store_groups == ["east"]  # not on the form: kept
    assert row.active is True
    [entry] = audited(session, "coupon_template.update")
    assert entry.target_id == str(template["id"]) and entry.details["name"] == "满80减20"

    # The coupon issued before keeps ¥10 off ¥50 for 30 days; a new one gets ¥20 off ¥80.
    kept = api.post(f"/v1/coupons/{old['code']}/validate", {"amount": 6000}).json()
    assert kept["applies"] is True and kept["discount"] == 1000
    assert old["valid_until"] == api.get(f"/v1/coupons/{old['code']}").json()["valid_until"]
    body["issue_id"] = "new"
    new = api.ok("/v1/coupons", body, 201)
    assert (
        api.post(f"/v1/coupons/{new['code']}/validate", {"amount": 6000}).json()["applies"] is False
    )


def test_a_bad_change_to_a_coupon_template_is_refused_and_changes_nothing(app, session, api):
    template = api.ok(
        "/v1/coupon-templates",
        {"name": "九折", "kind": "percent_off", "percent_off": 10, "valid_days": 30},
        201,
    )
    hq = signed_in(app, session, "hq")
    hq.get(f"/console/coupons/templates/{template['id']}")
    bad = hq.post(
        f"/console/coupons/templates/{template['id']}",
        {"name": "九折", "kind": "percent_off", "percent_off": "10"},
    )
    assert bad.status_code == 422 and "有效天数" in bad.text
    unknown = hq.post(
        f"/console/coupons/templates/{template['id']}",
        {
            **{"name": "九折", "kind": "percent_off", "percent_off": "10", "valid_days": "30"},
            "store_codes": "NOPE",
        },
    )
    assert unknown.status_code == 422
    row = session.get(CouponTemplate, template["id"])
    session.refresh(row)
    assert (row.valid_days, row.store_codes) == (30, [])
    assert audited(session, "coupon_template.update") == []
    analyst = signed_in(app, session, "analyst")
    assert analyst.get(f"/console/coupons/templates/{template['id']}").status_code == 403
    assert analyst.post(f"/console/coupons/templates/{template['id']}", {}).status_code == 403
