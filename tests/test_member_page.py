"""The members' mobile page: sign in with an SMS code, check in, redeem in three steps, invite
friends, draw in a lottery."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from loyalty.lotteries.models import LotteryDraw
from loyalty.members.models import Member, MemberLoginCode
from loyalty.rewards.models import Redemption
from loyalty.tasks.models import Event
from tests.conftest import START, assert_balanced
from tests.web import Browser, browser

PHONE = "13812341234"
E164 = "+8613812341234"
TEA = {"name": "中杯奶茶", "name_en": "Medium milk tea", "points_price": 500, "stock": 20}


@dataclass
class RecordingSms:
    """An SMS sender that keeps what it was asked to send."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def last_code(self) -> str:
        match = re.search(r"\d{6}", self.sent[-1][1])
        assert match, self.sent
        return match.group(0)


def sms_for(app: Any) -> RecordingSms:
    recorder: RecordingSms | None = getattr(app.state, "sms_sender", None)
    if recorder is None:
        recorder = app.state.sms_sender = RecordingSms()
    return recorder


def ask_code(b: Browser, phone: str = PHONE, **extra: str) -> Any:
    b.get("/m/login")
    return b.post("/m/login/code", {"phone": phone, **extra})


def signed_in(app: Any, phone: str = PHONE, **extra: str) -> Browser:
    """A phone browser signed in with the code from its text message."""
    sms, b = sms_for(app), browser(app)
    assert ask_code(b, phone, **extra).status_code == 200
    answer = b.post("/m/login", {"phone": phone, "code": sms.last_code(), **extra})
    assert answer.status_code == 303, answer.text
    b.get("/m")
    return b


def member_with(api: Any, points: int, phone: str = PHONE) -> dict[str, Any]:
    member = api.member(phone)
    if points:
        api.order(member["id"], points * 100, START - timedelta(days=1))
    return member


def reward(api: Any, **body: Any) -> dict[str, Any]:
    return api.ok("/v1/rewards", {**TEA, "fulfilment": "pickup", **body}, 201)


def hidden(page: Any, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert match, f"no hidden {name}"
    return match.group(1)


# --- signing in --------------------------------------------------------------------------------


def test_a_member_signs_in_with_the_code_from_the_text_message(app, api, session):
    member_with(api, 1234)
    sms = sms_for(app)
    b = browser(app)
    assert b.get("/m", follow_redirects=False).headers["location"] == "/m/login?next=/m"
    step_two = ask_code(b)
    assert step_two.status_code == 200 and "138****1234" in step_two.text
    assert 'id="code"' in step_two.text
    ((phone, text),) = sms.sent
    assert phone == E164 and text.startswith("您的验证码是 ")
    code = sms.last_code()
    stored = session.scalar(select(MemberLoginCode.code_hash).where(MemberLoginCode.phone == E164))
    assert stored and code not in stored  # only a digest is kept
    answer = b.post("/m/login", {"phone": PHONE, "code": code})
    assert answer.status_code == 303 and answer.headers["location"] == "/m"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    home = b.get("/m")
    assert home.status_code == 200 and "可用积分" in home.text and "1,234" in home.text
    assert 'href="/m/rewards"' in home.text  # the bottom tabs


def test_a_new_phone_joins_on_its_first_sign_in_with_the_friends_code(app, api, session):
    friend = member_with(api, 0, "13900000001")
    b = signed_in(app, "13900000002", ref=friend["referral_code"])
    assert "可用积分" in b.get("/m").text
    joined = session.scalar(select(Member).where(Member.phone == "+8613900000002"))
    assert joined is not None and joined.referrer_id == friend["id"]
    assert joined.channel == "online"


def test_an_unknown_referral_code_does_not_stop_a_new_member(app, session):
    signed_in(app, "13900000003", ref="NOSUCH")
    joined = session.scalar(select(Member).where(Member.phone == "+8613900000003"))
    assert joined is not None and joined.referrer_id is None


def test_a_wrong_code_is_refused_and_five_wrong_codes_end_it(app, api):
    member_with(api, 0)
    sms, b = sms_for(app), browser(app)
    ask_code(b)
    right = sms.last_code()
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(5):
        refused = b.post("/m/login", {"phone": PHONE, "code": wrong})
        assert refused.status_code == 401 and "验证码错误" in refused.text
    locked = b.post("/m/login", {"phone": PHONE, "code": right})
    assert locked.status_code == 429 and "错误次数过多" in locked.text
    assert b.get("/m", follow_redirects=False).status_code == 303


def test_an_expired_code_is_refused(app, api, clock):
    member_with(api, 0)
    sms, b = sms_for(app), browser(app)
    ask_code(b)
    clock.advance(minutes=5, seconds=1)
    expired = b.post("/m/login", {"phone": PHONE, "code": sms.last_code()})
    assert expired.status_code == 401 and "验证码已失效" in expired.text


def test_a_code_works_once(app, api):
    member_with(api, 0)
    signed_in(app)
    again = browser(app)
    again.get("/m/login")
    reused = again.post("/m/login", {"phone": PHONE, "code": sms_for(app).last_code()})
    assert reused.status_code == 401


def test_one_code_a_minute_and_ten_a_day_per_phone(app, clock):
    sms = sms_for(app)
    b = browser(app)
    assert ask_code(b).status_code == 200
    too_soon = b.post("/m/login/code", {"phone": PHONE})
    assert too_soon.status_code == 429 and "1 分钟" in too_soon.text
    assert len(sms.sent) == 1
    for _ in range(9):
        clock.advance(seconds=61)
        assert b.post("/m/login/code", {"phone": PHONE}).status_code == 200
    clock.advance(seconds=61)
    today = b.post("/m/login/code", {"phone": PHONE})
    assert today.status_code == 429 and "明天再试" in today.text
    assert len(sms.sent) == 10
    clock.advance(days=1)
    assert b.post("/m/login/code", {"phone": PHONE}).status_code == 200


def test_one_address_cannot_ask_for_codes_for_many_phones(app):
    b = browser(app)
    b.get("/m/login")
    answers = [b.post("/m/login/code", {"phone": f"139{n:08d}"}).status_code for n in range(21)]
    assert answers[:20] == [200] * 20 and answers[20] == 429


def test_a_bad_phone_number_is_refused_with_a_message(app):
    sms, b = sms_for(app), browser(app)
    answer = ask_code(b, "12345")
    assert answer.status_code == 422 and "手机号" in answer.text
    assert sms.sent == []


def test_sign_in_forms_need_their_token_and_pages_need_the_session(app, api):
    member_with(api, 0)
    sms, b = sms_for(app), browser(app)
    b.get("/m/login")
    b.csrf = "forged"
    assert b.post("/m/login/code", {"phone": PHONE}).status_code == 403
    assert sms.sent == []
    htmx = b.client.get("/m/history", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/m/login")


def test_a_form_without_the_members_token_is_refused(app, api, session):
    member_with(api, 100)
    configure_check_in(api)
    b = signed_in(app)
    b.csrf = "forged"
    assert b.post("/m/check-in").status_code == 403
    assert session.scalar(select(func.count()).select_from(Event)) == 0


def test_signing_out_ends_the_session(app, api):
    member_with(api, 0)
    b = signed_in(app)
    b.get("/m/me")
    assert b.post("/m/logout").headers["location"] == "/m/login"
    assert b.get("/m", follow_redirects=False).status_code == 303


# --- home and check-in -------------------------------------------------------------------------


def configure_check_in(api: Any, **body: Any) -> None:
    task = {"name": "每日签到", "name_en": "Daily check-in", "points": 5, **body}
    answer = api.client.put("/v1/tasks/check_in", json=task, headers=api.headers)
    assert answer.status_code == 200, answer.text


def test_home_shows_expiring_points_and_the_tier_progress(app, api):
    api.client.put(
        "/v1/tiers/gold",
        json={
            "name": "金卡",
            "rank": 1,
            "metric": "spend",
            "threshold": 100_000,
            "window_days": 365,
        },
        headers=api.headers,
    )
    member_with(api, 680)
    home = signed_in(app).get("/m").text
    assert "680 积分将于" in home and "过期" in home
    assert "再消费 ¥320 升级金卡" in home
    assert 'aria-valuenow="68"' in home


def test_a_member_checks_in_once_a_day_and_builds_a_streak(app, api, session, clock):
    configure_check_in(api, streak_bonuses={"2": 10})
    member = member_with(api, 100)
    b = signed_in(app)
    assert 'id="check-in"' in b.get("/m").text
    assert b.post("/m/check-in").status_code == 303
    assert b.post("/m/check-in").status_code == 303  # a double tap
    assert api.points(member["id"])["available"] == 105
    home = b.get("/m").text
    assert "今日已签到，+5 积分" in home and "已连续签到 1 天" in home
    assert 'id="check-in"' not in home
    clock.advance(days=1)
    b.get("/m")
    b.post("/m/check-in")
    assert api.points(member["id"])["available"] == 120  # 5 + 10 for two days in a row
    assert "已连续签到 2 天" in b.get("/m").text
    assert session.scalar(select(func.count()).select_from(Event)) == 2
    assert_balanced(session)


def test_no_check_in_button_without_a_check_in_task(app, api):
    member_with(api, 0)
    assert 'id="check-in"' not in signed_in(app).get("/m").text


# --- history -----------------------------------------------------------------------------------


def test_history_explains_every_point_and_loads_more_in_place(app, api):
    member = member_with(api, 0)
    for n in range(22):
        api.order(member["id"], 1000, START - timedelta(hours=n + 1), order_id=f"H-{n}")
    b = signed_in(app)
    page = b.get("/m/history")
    assert page.status_code == 200 and page.text.count('class="m-entry"') == 20
    assert "获得" in page.text and "+10" in page.text
    more = re.search(r'hx-get="(/m/history\?before=\d+)"', page.text)
    assert more
    rest = b.client.get(more.group(1), headers={"HX-Request": "true"})
    assert rest.text.count('class="m-entry"') == 2 and "<html" not in rest.text


# --- rewards in three steps --------------------------------------------------------------------


def test_a_member_redeems_in_three_steps_and_the_points_go_once(app, api, session):
    api.store("SH001", name="徐汇店")
    member = member_with(api, 800)
    tea = reward(api)
    b = signed_in(app)
    mall = b.get("/m/rewards").text
    assert f'href="/m/rewards/{tea["id"]}">兑换</a>' in mall
    step_one = b.get(f"/m/rewards/{tea['id']}")
    assert step_one.status_code == 200 and "徐汇店" in step_one.text
    step_two = b.get(f"/m/rewards/{tea['id']}/confirm", params={"quantity": 1, "store": "SH001"})
    assert step_two.status_code == 200 and "-500" in step_two.text
    assert re.search(r'id="balance-after"><strong>300<', step_two.text)
    form = {"redemption_id": hidden(step_two, "redemption_id"), "quantity": 1, "store": "SH001"}
    first = b.post(f"/m/rewards/{tea['id']}/redeem", form)
    second = b.post(f"/m/rewards/{tea['id']}/redeem", form)  # a double submit
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    done = b.get(first.headers["location"])
    assert done.status_code == 200 and "兑换成功" in done.text
    assert 'id="pickup-qr"' in done.text and re.search(r'id="new-balance"><strong>300<', done.text)
    code = session.scalar(select(Redemption.pickup_code))
    assert code and code in done.text
    assert api.points(member["id"])["available"] == 300
    assert session.scalar(select(func.count()).select_from(Redemption)) == 1
    assert first.headers["location"].endswith("/done")
    qr = b.get(first.headers["location"].removesuffix("/done") + "/qr.png")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
    assert qr.content.startswith(b"\x89PNG")
    width = int.from_bytes(qr.content[16:20], "big")
    assert width >= (21 + 6) * 8  # a full QR code (21+ modules), not a Micro QR code
    assert_balanced(session)


def test_rewards_the_member_can_afford_come_first(app, api):
    member_with(api, 1000)
    reward(api, name="保温杯", points_price=3000)
    reward(api, name="大杯奶茶", points_price=700)
    reward(api, name="优惠券", points_price=300)
    page = signed_in(app).get("/m/rewards").text
    order = [page.index(name) for name in ("优惠券", "大杯奶茶", "保温杯")]
    assert order == sorted(order)
    assert "差 2000 积分" in page
    assert page.count(">兑换</a>") == 2


def test_a_reward_sent_by_post_goes_to_the_saved_address(app, api, session):
    member_with(api, 800)
    socks = reward(api, name="品牌袜子", fulfilment="delivery", cash_price=500)
    b = signed_in(app)
    step_one = b.get(f"/m/rewards/{socks['id']}")
    assert 'id="recipient"' in step_one.text and 'id="next"' not in step_one.text
    saved = b.post(
        f"/m/me/address?back=/m/rewards/{socks['id']}",
        {
            "recipient": "王小明",
            "phone": "13812341234",
            "region": "上海市徐汇区",
            "detail": "漕溪路 1 号",
        },
    )
    assert saved.headers["location"] == f"/m/rewards/{socks['id']}"
    step_one = b.get(f"/m/rewards/{socks['id']}")
    address = re.search(r'name="address" value="(\d+)"', step_one.text)
    assert address
    step_two = b.get(
        f"/m/rewards/{socks['id']}/confirm", params={"quantity": 1, "address": address.group(1)}
    )
    assert "¥5.00" in step_two.text  # paid on handover
    done = b.post(
        f"/m/rewards/{socks['id']}/redeem",
        {"redemption_id": hidden(step_two, "redemption_id"), "address": address.group(1)},
    )
    page = b.get(done.headers["location"]).text
    assert "漕溪路 1 号" in page and "pickup-qr" not in page
    assert_balanced(session)


def test_a_pickup_without_a_store_or_with_too_few_points_is_refused(app, api, session):
    api.store("SH001")
    member_with(api, 600)
    tea = reward(api)
    b = signed_in(app)
    no_store = b.get(f"/m/rewards/{tea['id']}/confirm", params={"quantity": 1})
    assert no_store.status_code == 422 and "请从列表中选择门店" in no_store.text
    too_many = b.get(f"/m/rewards/{tea['id']}/confirm", params={"quantity": 2, "store": "SH001"})
    assert too_many.status_code == 409 and "差 400 积分" in too_many.text
    assert session.scalar(select(func.count()).select_from(Redemption)) == 0


def test_another_members_redemption_is_not_found(app, api):
    api.store("SH001")
    member_with(api, 800)
    member_with(api, 800, "13900000009")
    tea = reward(api)
    mine = signed_in(app)
    step_two = mine.get(f"/m/rewards/{tea['id']}/confirm", params={"store": "SH001"})
    done = mine.post(
        f"/m/rewards/{tea['id']}/redeem",
        {"redemption_id": hidden(step_two, "redemption_id"), "store": "SH001"},
    )
    other = signed_in(app, "13900000009")
    page = done.headers["location"].removesuffix("/done")
    assert other.get(done.headers["location"]).status_code == 404
    assert other.get(page + "/qr.png").status_code == 404


# --- me, referral, lottery ---------------------------------------------------------------------


def test_the_member_shares_a_referral_code_and_its_qr_code(app, api):
    member = member_with(api, 0)
    b = signed_in(app)
    page = b.get("/m/me").text
    code = member["referral_code"]
    assert f'id="referral-code">{code}<' in page
    assert f"/m/login?ref={code}" in page
    qr = b.get("/m/me/referral.png")
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")
    invited = browser(app).get(f"/m/login?ref={code}")
    assert "好友邀请你" in invited.text and f'name="ref" value="{code}"' in invited.text


def test_a_member_draws_in_a_lottery_and_sees_the_result(app, api, session):
    lottery = api.ok(
        "/v1/lotteries",
        {
            "name": "周末抽奖",
            "cost_points": 100,
            "starts_at": START.isoformat(),
            "ends_at": (START + timedelta(days=30)).isoformat(),
        },
        201,
    )
    prizes = [{"name": "50 积分", "kind": "points", "points": 50, "weight": 1}]
    api.client.put(
        f"/v1/lotteries/{lottery['id']}/prizes", json={"prizes": prizes}, headers=api.headers
    )
    member = member_with(api, 500)
    b = signed_in(app)
    assert "周末抽奖" in b.get("/m/lotteries").text
    page = b.get(f"/m/lotteries/{lottery['id']}")
    form = {"draw_id": hidden(page, "draw_id")}
    first = b.post(f"/m/lotteries/{lottery['id']}/draw", form)
    second = b.post(f"/m/lotteries/{lottery['id']}/draw", form)  # a double tap
    assert first.headers["location"] == second.headers["location"]
    result = b.get(first.headers["location"]).text
    assert "恭喜您抽中：50 积分" in result
    assert session.scalar(select(func.count()).select_from(LotteryDraw)) == 1
    assert api.points(member["id"])["available"] == 450
    assert_balanced(session)


def test_pages_render_in_english_too(app, api):
    member_with(api, 10)
    b = signed_in(app)
    b.client.cookies.set("lang", "en")
    assert "Available points" in b.get("/m").text
