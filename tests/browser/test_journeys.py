"""The main journeys of the console and the member page, in Debian's Chromium."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from loyalty.db.base import utcnow
from loyalty.members.models import Member
from loyalty.programs.service import get_program
from loyalty.rewards.models import Reward
from loyalty.rewards.service import RedeemRequest, redeem
from loyalty.stores.models import Store
from tests.browser.conftest import LAPTOP, PHONE
from tests.browser.pages import console_sign_in, member_sign_in, new_page

pytestmark = pytest.mark.browser  # run once, on SQLite (scripts/dev)


def _member(site, *, at_store: str | None = None, not_at_store: str | None = None, points=0):
    """A demo member with a phone and at least ``points`` available."""
    with site.db.reader() as session:
        query = (
            select(Member)
            .where(
                Member.phone.is_not(None),
                Member.status == "active",
                Member.points_available >= points,
            )
            .order_by(Member.points_available.desc())
        )
        if at_store:
            query = query.join(Store, Store.id == Member.store_id).where(Store.code == at_store)
        if not_at_store:
            query = query.join(Store, Store.id == Member.store_id).where(Store.code != not_at_store)
        member = session.scalars(query.limit(1)).one()
        session.expunge(member)
        return member


def test_an_operator_creates_a_wednesday_double_points_rule_and_sees_its_back_test(
    chromium, site, shots
):
    page = new_page(chromium, LAPTOP)
    console_sign_in(page, site.url, "hq", site.password)
    page.goto(f"{site.url}/console/rules/new")
    page.locator("#rule-name").fill("周三双倍积分（测试）")
    page.locator("#rule-kind-multiplier").check()
    page.locator("#rule-factor").fill("2")
    page.get_by_role("checkbox", name="周三", exact=True).check()
    page.locator("#rule-check").get_by_text("×2").first.wait_for()
    page.locator("#rule-save").click()
    page.locator("#rule-saved").wait_for()
    page.locator("#backtest[data-chart-ready]").wait_for(timeout=20_000)
    extra = int(page.locator("#backtest-points").get_attribute("data-value") or "0")
    assert extra > 0  # the demo chain has a year of Wednesdays to price the rule against
    page.screenshot(path=str(shots / "console-rule-backtest-laptop.png"), full_page=True)
    assert page.errors == []


def test_a_clerk_verifies_a_pickup_code_and_cannot_see_another_stores_members(
    chromium, site, shots
):
    customer = _member(site, points=600)
    stranger = _member(site, not_at_store=site.store_code)
    with site.db.transaction() as session:
        program = get_program(session, customer.program_id)
        reward = session.scalars(select(Reward).where(Reward.points_price == 500)).first()
        assert reward is not None and reward.fulfilment == "pickup"
        request = RedeemRequest(
            redemption_id=f"browser-{uuid.uuid4().hex[:8]}",
            member_id=customer.id,
            reward_id=reward.id,
            quantity=1,
            request_hash=uuid.uuid4().hex,
            store_code=site.store_code,
        )
        code = redeem(session, program, request, utcnow())["pickup_code"]

    page = new_page(chromium, PHONE)
    console_sign_in(page, site.url, "clerk", site.password)
    page.goto(f"{site.url}/console/counter")
    page.locator("#code").fill(code)
    page.locator("#code").press("Enter")
    page.get_by_role("button", name="确认交付").click()
    page.locator("#verdict").get_by_text("已交付").first.wait_for()
    page.screenshot(path=str(shots / "console-counter-phone.png"), full_page=True)

    page.locator("#code").fill(code)  # the same code again: refused, with when and where
    page.locator("#code").press("Enter")
    page.locator("#verdict").get_by_text("该券码已核销").wait_for()

    answer = page.goto(f"{site.url}/console/members/{stranger.id}")
    assert answer is not None and answer.status in (403, 404)
    page.errors.clear()  # the browser logs the refused page; that refusal is the point
    page.goto(f"{site.url}/console/members?q={stranger.phone}")
    assert stranger.name is None or stranger.name not in page.locator("main").inner_text()
    assert page.errors == []


def test_a_member_signs_in_checks_in_and_redeems_a_reward_in_three_steps(chromium, site, shots):
    member = _member(site, points=600)
    page = new_page(chromium, PHONE)
    member_sign_in(page, site.url, member.phone)
    before = int(re.sub(r"\D", "", page.locator("#balance").inner_text()))
    page.screenshot(path=str(shots / "member-home-phone.png"), full_page=True)

    page.locator("#check-in").click()
    page.locator("#checkin-result").wait_for()
    after_check_in = int(re.sub(r"\D", "", page.locator("#balance").inner_text()))
    assert after_check_in > before

    page.goto(f"{site.url}/m/rewards")
    page.locator("li.m-reward", has_text="中杯奶茶").locator("a.m-redeem").click()  # 1. choose
    page.locator("#store").select_option(index=0)
    page.locator("#next").click()
    price = int(re.sub(r"\D", "", page.locator("#points-to-deduct").inner_text()))
    page.locator("#confirm").click()  # 2. confirm
    page.locator("#pickup-qr").wait_for()  # 3. done: the pickup QR code to show at the counter
    assert page.locator("#pickup-qr").evaluate("img => img.naturalWidth") > 0
    now = int(re.sub(r"\D", "", page.locator("#new-balance").inner_text()))
    assert now == after_check_in - price
    page.screenshot(path=str(shots / "member-redeemed-phone.png"), full_page=True)
    page.goto(f"{site.url}/m")
    assert int(re.sub(r"\D", "", page.locator("#balance").inner_text())) == now
    assert page.errors == []
