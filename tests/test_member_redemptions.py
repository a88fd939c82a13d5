"""My redemptions on the member page: a member who redeemed a reward finds it again (the pickup
code, the delivery, the coupon code), and nobody else can."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from loyalty.rewards.models import Redemption
from tests.conftest import START, assert_balanced
from tests.test_member_page import hidden, member_with, reward, signed_in
from tests.web import Browser

ADDRESS = {
    "recipient": "王小明",
    "phone": "13812341234",
    "region": "上海市徐汇区",
    "detail": "漕溪路 1 号",
}


def redeem_on_the_page(b: Browser, reward_id: int, **choice: Any) -> Any:
    """The three steps: choose, confirm, done; returns the done page."""
    step_two = b.get(f"/m/rewards/{reward_id}/confirm", params={"quantity": 1, **choice})
    assert step_two.status_code == 200, step_two.text
    form = {"redemption_id": hidden(step_two, "redemption_id"), "quantity": 1, **choice}
    answer = b.post(f"/m/rewards/{reward_id}/redeem", form)
    assert answer.status_code == 303, answer.text
    return b.get(answer.headers["location"])


def links(page: Any) -> list[str]:
    """The redemptions a list page links to, top to bottom."""
    return re.findall(r'href="(/m/redemptions/\d+)"', page.text)


def rid(session: Any, reward_id: int) -> str:
    """The redemption id (as the till knows it) of the redemption of ``reward_id``."""
    found = session.scalar(
        select(Redemption.redemption_id).where(Redemption.reward_id == reward_id)
    )
    assert found
    return str(found)


def test_a_member_redeems_leaves_and_finds_the_pickup_code_again(app, api, session):
    api.store("SH001", name="徐汇店")
    member_with(api, 800)
    tea = reward(api)
    b = signed_in(app)
    done = redeem_on_the_page(b, tea["id"], store="SH001")
    assert "兑换成功" in done.text and "查看我的兑换" in done.text
    code = session.scalar(select(Redemption.pickup_code))
    assert code

    home = b.get("/m").text  # the member leaves the done page
    assert code not in home
    assert home.count('href="/m/redemptions"') == 2  # a shortcut and the bottom tab
    mine = b.get("/m/redemptions")
    assert mine.status_code == 200 and "我的兑换" in mine.text
    assert "中杯奶茶 × 1" in mine.text and "500 积分" in mine.text and "待取货" in mine.text
    (detail,) = links(mine)

    page = b.get(detail)
    assert page.status_code == 200 and "待取货" in page.text
    assert f'id="pickup-code">{code}<' in page.text and 'id="pickup-qr"' in page.text
    assert "到 徐汇店 出示此码领取" in page.text
    qr = b.get(detail + "/qr.png")
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")


def test_another_member_cannot_open_my_redemption(app, api, session):
    api.store("SH001")
    member_with(api, 800)
    member_with(api, 800, "13900000009")
    tea = reward(api)
    redeem_on_the_page(signed_in(app), tea["id"], store="SH001")
    row_id = session.scalar(select(Redemption.id))
    code = session.scalar(select(Redemption.pickup_code))
    assert row_id and code

    other = signed_in(app, "13900000009")
    theirs = other.get(f"/m/redemptions/{row_id}")
    missing = other.get(f"/m/redemptions/{row_id + 1000}")
    assert theirs.status_code == missing.status_code == 404
    assert code not in theirs.text and "中杯奶茶" not in theirs.text
    # exactly the page of a redemption that does not exist: nothing tells the two apart
    same = [re.sub(r"(redemptions/|redemption )\d+", r"\1?", p.text) for p in (theirs, missing)]
    assert same[0] == same[1] and "redemption ? does not exist" in same[0]
    assert other.get(f"/m/redemptions/{row_id}/done").status_code == 404
    assert other.get(f"/m/redemptions/{row_id}/qr.png").status_code == 404
    listed = other.get("/m/redemptions")
    assert links(listed) == [] and "还没有兑换记录" in listed.text


def test_a_cancelled_redemption_shows_cancelled_and_the_points_back(app, api, session):
    api.store("SH001")
    member = member_with(api, 800)
    tea = reward(api)
    b = signed_in(app)
    redeem_on_the_page(b, tea["id"], store="SH001")
    code = session.scalar(select(Redemption.pickup_code))
    assert code
    api.ok(f"/v1/redemptions/{rid(session, tea['id'])}/cancel")

    mine = b.get("/m/redemptions")
    assert "已取消" in mine.text and "待取货" not in mine.text
    page = b.get(links(mine)[0])
    assert "已取消" in page.text and "积分已退回您的账户" in page.text
    assert code not in page.text and 'id="pickup-qr"' not in page.text
    assert b.get(links(mine)[0] + "/qr.png").status_code == 404  # nor the image, if kept
    assert api.points(member["id"])["available"] == 800
    assert_balanced(session)


def test_picked_up_and_expired_pickups_say_so(app, api, db, session):
    from loyalty.jobs.registry import JOBS

    api.store("SH001")
    member_with(api, 1000)
    tea = reward(api)
    cake = reward(api, name="小蛋糕", name_en="Small cake", points_price=300, pickup_days=7)
    b = signed_in(app)
    redeem_on_the_page(b, tea["id"], store="SH001")
    redeem_on_the_page(b, cake["id"], store="SH001")
    tea_code = session.scalar(
        select(Redemption.pickup_code).where(Redemption.reward_id == tea["id"])
    )
    api.ok("/v1/redemptions/verify", {"code": tea_code, "store_code": "SH001"})
    job, _ = JOBS["expire-pickups"]
    job(db, START + timedelta(days=7), START, None)

    mine = b.get("/m/redemptions")
    cake_link, tea_link = links(mine)  # newest first
    assert "已取货" in mine.text and "已过期" in mine.text
    picked_up = b.get(tea_link).text
    assert "已取货" in picked_up and "已于 2026年3月4日 取货" in picked_up
    assert 'id="pickup-qr"' not in picked_up
    expired = b.get(cake_link).text
    assert "已过期" in expired and "积分已退回您的账户" in expired and "pickup-qr" not in expired
    assert [b.get(f"{link}/qr.png").status_code for link in (tea_link, cake_link)] == [404, 404]


def test_a_delivery_shows_where_it_goes_and_how_far_it_got(app, api, session):
    member_with(api, 800)
    socks = reward(api, name="品牌袜子", fulfilment="delivery", cash_price=500)
    b = signed_in(app)
    b.post("/m/me/address", ADDRESS)
    address = re.search(r'name="address" value="(\d+)"', b.get(f"/m/rewards/{socks['id']}").text)
    assert address
    redeem_on_the_page(b, socks["id"], address=address.group(1))

    mine = b.get("/m/redemptions")
    assert "待发货" in mine.text and "500 积分 + ¥5.00" in mine.text
    (detail,) = links(mine)
    page = b.get(detail).text
    assert "漕溪路 1 号" in page and "发货状态: 待发货" in page and "¥5.00" in page
    api.ok(f"/v1/redemptions/{rid(session, socks['id'])}/ship", {"tracking": "SF1234567"})
    shipped = b.get(detail).text
    assert "发货状态: 已发货" in shipped and "快递单号 SF1234567" in shipped
    api.ok(f"/v1/redemptions/{rid(session, socks['id'])}/complete")
    assert "已完成" in b.get("/m/redemptions").text


def test_a_coupon_code_is_found_again(app, api):
    template = api.ok(
        "/v1/coupon-templates",
        {"name": "满50减10", "kind": "amount_off", "amount_off": 1_000, "valid_days": 30},
        201,
    )
    coupon = reward(
        api,
        name="满50减10券",
        kind="coupon",
        fulfilment="instant",
        points_price=300,
        coupon_template_id=template["id"],
    )
    member = member_with(api, 500)
    b = signed_in(app)
    done = redeem_on_the_page(b, coupon["id"])
    code = re.search(r'id="coupon-code" class="m-code">(\w+)<', done.text)
    assert code
    mine = b.get("/m/redemptions")
    assert "已完成" in mine.text
    assert f">{code.group(1)}<" in b.get(links(mine)[0]).text
    issued = api.get(f"/v1/members/{member['id']}/coupons").json()["items"]
    assert [c["code"] for c in issued] == [code.group(1)]


def test_a_redemption_made_at_the_till_is_on_the_member_page_too(app, api, session):
    api.store("SH001")
    member = member_with(api, 800)
    tea = reward(api)
    body = {"member_id": member["id"], "reward_id": tea["id"], "store_code": "SH001"}
    made = api.ok("/v1/redemptions", {"redemption_id": "POS/2026#001", **body}, 201)
    b = signed_in(app)
    (detail,) = links(b.get("/m/redemptions"))
    page = b.get(detail)
    assert page.status_code == 200 and made["pickup_code"] in page.text
    assert b.get(detail + "/qr.png").status_code == 200


def test_redemptions_are_newest_first_dated_in_the_programs_time_zone(app, api, clock):
    api.store("SH001")
    member_with(api, 2000)
    tea = reward(api)
    cake = reward(api, name="小蛋糕", points_price=300)
    b = signed_in(app)
    redeem_on_the_page(b, tea["id"], store="SH001")  # 10:00 on 4 March in Shanghai
    clock.advance(hours=14, minutes=30)  # 16:30 UTC: already 00:30 on 5 March in Shanghai
    redeem_on_the_page(b, cake["id"], store="SH001")
    page = b.get("/m/redemptions").text
    assert page.index("小蛋糕") < page.index("中杯奶茶")
    assert "2026/3/5 00:30" in page and "2026/3/4 10:00" in page


def test_more_redemptions_load_in_place(app, api):
    api.store("SH001")
    member = member_with(api, 3000)
    tea = reward(api, points_price=100, stock=None)
    for n in range(22):
        body = {"member_id": member["id"], "reward_id": tea["id"], "store_code": "SH001"}
        api.ok("/v1/redemptions", {"redemption_id": f"RD-{n}", **body}, 201)
    b = signed_in(app)
    page = b.get("/m/redemptions")
    assert len(links(page)) == 20
    more = re.search(r'hx-get="(/m/redemptions\?before=\d+)"', page.text)
    assert more
    rest = b.client.get(more.group(1), headers={"HX-Request": "true"})
    assert len(links(rest)) == 2 and "<html" not in rest.text
    assert set(links(page)).isdisjoint(links(rest))


def test_my_redemptions_in_english(app, api):
    api.store("SH001")
    member_with(api, 800)
    tea = reward(api)
    b = signed_in(app)
    redeem_on_the_page(b, tea["id"], store="SH001")
    b.client.cookies.set("lang", "en")
    page = b.get("/m/redemptions").text
    assert "My redemptions" in page and "Medium milk tea × 1" in page and "Awaiting pickup" in page
