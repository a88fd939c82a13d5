"""Every page at phone and laptop widths: it loads without a script error, passes the
accessibility check (axe-core: no serious or critical violation) and is photographed."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from loyalty.db.base import utcnow
from loyalty.lotteries.models import Lottery
from loyalty.members.models import Member
from loyalty.programs.service import get_program
from loyalty.rewards.models import Redemption, Reward
from loyalty.rewards.service import RedeemRequest, redeem
from loyalty.rules.models import Rule
from tests.browser.conftest import LAPTOP, PHONE
from tests.browser.pages import (
    axe_violations,
    blocking,
    console_sign_in,
    member_sign_in,
    new_page,
)

pytestmark = pytest.mark.browser  # run once, on SQLite (scripts/dev)

WIDTHS = {"phone": PHONE, "laptop": LAPTOP}


_RANKED: dict[str, list[int]] = {}
# Members the other browser tests sign in are the richest at their stores; these pages take
# members further down, so no phone asks for a second code within its one-a-minute limit.
MEMBER_RANKS = 20


def _ranked(site) -> list[int]:
    """Active members with a phone, richest first, as the demo built them: worked out once,
    so a redemption made by one test does not move another test onto the same member."""
    if site.url not in _RANKED:
        with site.db.reader() as session:
            _RANKED[site.url] = list(
                session.scalars(
                    select(Member.id)
                    .where(Member.phone.is_not(None), Member.status == "active")
                    .order_by(Member.points_available.desc(), Member.id)
                    .limit(MEMBER_RANKS + 10)
                )
            )
    return _RANKED[site.url]


def _ids(site, rank: int = 1) -> dict[str, object]:
    """Ids to visit; the member is the ``rank``-th richest of the demo as built (each test
    signs in its own, as a phone may ask for one code a minute)."""
    with site.db.reader() as session:
        member = session.get(Member, _ranked(site)[rank])
        return {
            "member": member.id,
            "phone": member.phone,
            "rule": session.scalar(select(func.min(Rule.id))),
            "reward": session.scalar(select(func.min(Reward.id))),
            "lottery": session.scalar(select(func.min(Lottery.id))),
        }


def console_pages(ids: dict[str, object]) -> list[tuple[str, str]]:
    pages = [
        ("dashboard", "/console"),
        ("members", "/console/members"),
        ("member", f"/console/members/{ids['member']}"),
        ("rules", "/console/rules"),
        ("rule-new", "/console/rules/new"),
        ("rule", f"/console/rules/{ids['rule']}"),
        ("tiers", "/console/tiers"),
        ("rewards", "/console/rewards"),
        ("redemptions", "/console/redemptions"),
        ("counter", "/console/counter"),
        ("coupons", "/console/coupons"),
        ("lotteries", "/console/lotteries"),
        ("stores", "/console/stores"),
        ("apikeys", "/console/apikeys"),
        ("users", "/console/users"),
        ("settings", "/console/settings"),
        ("audit", "/console/audit"),
        ("password", "/console/password"),
    ]
    return [(f"console-{name}", path) for name, path in pages]


def member_pages(ids: dict[str, object]) -> list[tuple[str, str]]:
    pages = [
        ("home", "/m"),
        ("history", "/m/history"),
        ("rewards", "/m/rewards"),
        ("reward", f"/m/rewards/{ids['reward']}"),
        ("me", "/m/me"),
        ("lotteries", "/m/lotteries"),
        ("redemptions", "/m/redemptions"),
        ("redemption", f"/m/redemptions/{ids['redemption']}"),
        ("redemption-done", f"/m/redemptions/{ids['redemption']}/done"),
    ]
    if ids["lottery"]:
        pages.append(("lottery", f"/m/lotteries/{ids['lottery']}"))
    return [(f"member-{name}", path) for name, path in pages]


def _redemption_of(site, member_id: object) -> int:
    """The member's latest redemption; the demo chain has none, so a reward to pick up."""
    with site.db.transaction() as session:
        mine = select(func.max(Redemption.id)).where(Redemption.member_id == member_id)
        found = session.scalar(mine)
        if found:
            return int(found)
        member = session.get(Member, member_id)
        assert member is not None
        reward = session.scalars(
            select(Reward).where(Reward.fulfilment == "pickup").order_by(Reward.points_price)
        ).first()
        assert reward is not None
        request = RedeemRequest(
            redemption_id=f"browser-{uuid.uuid4().hex[:8]}",
            member_id=member.id,
            reward_id=reward.id,
            quantity=1,
            request_hash=uuid.uuid4().hex,
            store_code=site.store_code,
        )
        redeem(session, get_program(session, member.program_id), request, utcnow())
        return int(session.scalar(mine) or 0)


def _visit(page, site, shots, width: str, pages: list[tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, path in pages:
        answer = page.goto(f"{site.url}{path}")
        assert answer is not None and answer.status == 200, f"{path}: {answer and answer.status}"
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        problems = blocking(axe_violations(page)) + list(page.errors)
        page.errors.clear()
        if problems:
            found[path] = problems
    return found


@pytest.mark.parametrize("width", WIDTHS)
def test_every_console_page(chromium, site, shots, width):
    page = new_page(chromium, WIDTHS[width], bypass_csp=True)
    console_sign_in(page, site.url, "admin", site.password)
    assert _visit(page, site, shots, width, console_pages(_ids(site))) == {}


@pytest.mark.parametrize("width", WIDTHS)
def test_every_member_page(chromium, site, shots, width):
    page = new_page(chromium, WIDTHS[width], bypass_csp=True)
    page.goto(f"{site.url}/m/login")
    page.screenshot(path=str(shots / f"member-login-{width}.png"), full_page=True)
    assert blocking(axe_violations(page)) == []
    ids = _ids(site, rank=MEMBER_RANKS + list(WIDTHS).index(width))
    ids["redemption"] = _redemption_of(site, ids["member"])
    member_sign_in(page, site.url, str(ids["phone"]))
    assert _visit(page, site, shots, width, member_pages(ids)) == {}
