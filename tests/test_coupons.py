"""Coupons: "¥10 off orders over ¥50", "15% off with a ¥20 ceiling", used once at the till."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.coupons.jobs import expire_coupons
from loyalty.coupons.models import Coupon
from loyalty.coupons.service import CODE_ALPHABET, issue_coupon
from loyalty.coupons.templates import CouponTemplateInactiveError, CouponTemplateSoldOutError
from loyalty.coupons.terms import Basket, Terms, assess
from loyalty.notifications.models import OutboxEvent
from loyalty.rules.engine import OrderLine
from tests.conftest import START
from tests.factories import Api, key_for

TEN_OFF_OVER_FIFTY = {
    "name": "满50减10",
    "name_en": "¥10 off orders over ¥50",
    "kind": "amount_off",
    "amount_off": 1_000,
    "min_spend": 5_000,
    "valid_days": 30,
}
FIFTEEN_PERCENT_MAX_TWENTY = {
    "name": "85折，最多减20元",
    "name_en": "15% off with a ¥20 ceiling",
    "kind": "percent_off",
    "percent_off": 15,
    "max_discount": 2_000,
    "valid_days": 30,
}


def template(api: Api, **body: Any) -> dict[str, Any]:
    base = {} if "kind" in body else TEN_OFF_OVER_FIFTY
    return api.ok("/v1/coupon-templates", {**base, **body}, 201)


def issue(
    api: Api, template_id: int, member_id: int, issue_id: str | None = None
) -> httpx.Response:
    body = {"template_id": template_id, "member_id": member_id}
    return api.post("/v1/coupons", {**body, "issue_id": issue_id or f"I-{member_id}-{template_id}"})


def coupon_for(api: Api, **template_body: Any) -> tuple[dict[str, Any], str]:
    """A member holding one coupon of a new template: (member, code)."""
    t = template(api, **template_body)
    member = api.member()
    r = issue(api, t["id"], member["id"])
    assert r.status_code == 201, r.text
    return member, r.json()["code"]


def validate(api: Api, code: str, amount: int, **kw: Any) -> dict[str, Any]:
    r = api.post(f"/v1/coupons/{code}/validate", {"amount": amount, **kw})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def redeem(api: Api, code: str, amount: int, store: str = "SH001", **kw: Any) -> httpx.Response:
    return api.post(f"/v1/coupons/{code}/redeem", {"store_code": store, "amount": amount, **kw})


# --- what a coupon is worth ------------------------------------------------------------------


def test_ten_off_orders_over_fifty(api):
    api.store("SH001")
    _, code = coupon_for(api)
    short = validate(api, code, 4_999, store_code="SH001")
    assert (short["applies"], short["reason"], short["discount"]) == (
        False,
        "min_spend_not_met",
        0,
    )
    assert "¥50" in short["detail"]
    assert validate(api, code, 5_000)["discount"] == 1_000
    assert validate(api, code, 12_000, store_code="SH001")["discount"] == 1_000


def test_fifteen_percent_off_with_a_twenty_yuan_ceiling_rounds_down(api):
    _, code = coupon_for(api, **FIFTEEN_PERCENT_MAX_TWENTY)
    assert validate(api, code, 10_000)["discount"] == 1_500
    assert validate(api, code, 12_345)["discount"] == 1_851  # 1851.75 rounded down
    assert validate(api, code, 50_000)["discount"] == 2_000  # 7500 capped at the ceiling
    assert validate(api, code, 1)["discount"] == 0  # applies, worth nothing yet


def test_a_discount_never_exceeds_the_eligible_amount():
    terms = Terms(name="¥30 off", kind="amount_off", amount_off=3_000)
    assert assess(terms, Basket(amount=2_000)).discount == 2_000
    free = Terms(name="free", kind="percent_off", percent_off=100)
    assert assess(free, Basket(amount=999)).discount == 999


def test_a_category_coupon_counts_only_its_lines(api):
    _, code = coupon_for(api, **FIFTEEN_PERCENT_MAX_TWENTY, categories=["bakery"])
    lines = [
        {"sku": "BREAD", "category": "bakery", "amount": 2_000},
        {"sku": "MILK", "category": "dairy", "amount": 8_000},
    ]
    answer = validate(api, code, 10_000, lines=lines)
    assert (answer["eligible_amount"], answer["discount"]) == (2_000, 300)
    none = validate(api, code, 8_000, lines=lines[1:])
    assert (none["applies"], none["reason"]) == (False, "no_eligible_items")


# --- at the till -----------------------------------------------------------------------------


def test_validate_then_redeem_at_the_till(api, session):
    api.store("SH001")
    member, code = coupon_for(api)
    till = Api(api.client, key_for(session, "pos", "SH001"))
    assert validate(till, code, 6_000) | {"detail": None} == {
        "code": code,
        "applies": True,
        "discount": 1_000,
        "eligible_amount": 6_000,
        "reason": None,
        "detail": None,
        "used_at": None,
        "used_store_code": None,
    }
    r = till.post(f"/v1/coupons/{code}/redeem", {"amount": 6_000, "order_id": "ORD-1"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["discount"] == 1_000
    assert answer["coupon"]["status"] == "used"
    assert answer["coupon"]["used_store_code"] == "SH001"
    again = till.post(f"/v1/coupons/{code}/redeem", {"amount": 6_000, "order_id": "ORD-1"})
    assert again.json() == answer  # the till's retry of the same order
    topics = session.scalars(
        select(OutboxEvent.topic).where(OutboxEvent.topic.like("coupon.%")).order_by(OutboxEvent.id)
    ).all()
    assert topics == ["coupon.issued", "coupon.redeemed"]
    mine = api.get(f"/v1/members/{member['id']}/coupons", params={"status": "used"}).json()
    assert [c["code"] for c in mine["items"]] == [code]


def test_a_code_works_once_and_a_second_use_says_when_and_where(api, clock):
    api.store("SH001")
    api.store("SH002")
    _, code = coupon_for(api)
    assert redeem(api, code, 6_000, "SH001", order_id="A").status_code == 200
    used_at = clock.now().isoformat()
    clock.advance(hours=2)
    second = redeem(api, code, 7_000, "SH002", order_id="B")
    assert second.status_code == 409
    problem = second.json()
    assert problem["code"] == "coupon_already_used"
    assert (problem["used_at"], problem["used_store_code"]) == (used_at, "SH001")
    preview = validate(api, code, 7_000, store_code="SH002")
    assert (preview["reason"], preview["used_store_code"]) == ("coupon_already_used", "SH001")


def test_a_store_not_allowed_is_refused(api):
    api.store("SH001", groups=["east"])
    api.store("SH002", groups=["east"])
    api.store("BJ001", groups=["north"])
    _, code = coupon_for(api, store_codes=["SH001"], store_groups=["east"])
    refused = redeem(api, code, 6_000, "BJ001")
    assert refused.status_code == 422
    assert refused.json()["code"] == "store_not_allowed"
    assert validate(api, code, 6_000, store_code="BJ001")["reason"] == "store_not_allowed"
    assert redeem(api, code, 6_000, "SH002").status_code == 200  # a store of the group


def test_a_till_uses_coupons_only_for_its_own_store(api, session):
    api.store("SH001")
    api.store("BJ001")
    _, code = coupon_for(api)
    till = Api(api.client, key_for(session, "pos", "SH001"))
    assert redeem(till, code, 6_000, "BJ001").status_code == 403
    assert api.post(f"/v1/coupons/{code}/redeem", {"amount": 6_000}).json()["code"] == (
        "store_required"
    )


def test_unknown_codes_are_404_and_codes_forgive_case_and_dashes(api):
    _, code = coupon_for(api)
    assert len(code) == 12 and set(code) <= set(CODE_ALPHABET)
    friendly = f"{code[:4]}-{code[4:8]}-{code[8:]}".lower()
    assert api.get(f"/v1/coupons/{friendly}").json()["code"] == code
    r = api.post("/v1/coupons/ZZZZZZZZZZZZ/validate", {"amount": 100})
    assert r.status_code == 404 and r.json()["code"] == "coupon_not_found"


def test_a_voided_coupon_is_refused(api):
    api.store("SH001")
    _, code = coupon_for(api)
    voided = api.post(f"/v1/coupons/{code}/void", {"reason": "issued by mistake"})
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    r = redeem(api, code, 6_000)
    assert r.status_code == 409 and r.json()["code"] == "coupon_voided"


# --- issuing ---------------------------------------------------------------------------------


def test_issue_is_exactly_once_per_issue_id(api):
    t = template(api)
    alice, bob = api.member(), api.member()
    first = issue(api, t["id"], alice["id"], "ISSUE-1")
    assert first.status_code == 201
    assert issue(api, t["id"], alice["id"], "ISSUE-1").json() == first.json()
    other = issue(api, t["id"], bob["id"], "ISSUE-1")
    assert other.status_code == 409 and other.json()["code"] == "coupon_issue_conflict"
    assert api.get(f"/v1/coupon-templates/{t['id']}").json()["issued_count"] == 1


def test_issue_coupon_refuses_an_inactive_or_sold_out_template(api, session, clock):
    t = template(api, issue_limit=1)
    member = api.member()
    coupon = issue_coupon(
        session, 1, member["id"], t["id"], clock.now(), source_type="reward", source_id="R-1"
    )
    assert (coupon.status, coupon.source_type, coupon.source_id) == ("issued", "reward", "R-1")
    assert coupon.valid_until == START + timedelta(days=30)
    with pytest.raises(CouponTemplateSoldOutError):
        issue_coupon(
            session, 1, member["id"], t["id"], clock.now(), source_type="x", source_id=None
        )
    off = api.client.patch(
        f"/v1/coupon-templates/{t['id']}", json={"active": False}, headers=api.headers
    )
    assert off.status_code == 200 and off.json()["active"] is False
    with pytest.raises(CouponTemplateInactiveError):
        issue_coupon(
            session, 1, member["id"], t["id"], clock.now(), source_type="x", source_id=None
        )
    r = issue(api, t["id"], member["id"], "ISSUE-2")
    assert r.status_code == 409 and r.json()["code"] == "coupon_template_inactive"


def test_bulk_issue_to_a_segment(api, session):
    t = template(api, issue_limit=3)
    vip = [api.member() for _ in range(3)]
    others = [api.member() for _ in range(2)]
    for m in vip:
        assert api.client.put(f"/v1/members/{m['id']}/tags/vip", headers=api.headers).is_success
    r = api.post("/v1/coupons/bulk", {"template_id": t["id"], "segment": "vip"})
    assert r.status_code == 201, r.text
    assert r.json() == {"template_id": t["id"], "issued": 3}
    holders = session.scalars(select(Coupon.member_id).where(Coupon.template_id == t["id"])).all()
    assert sorted(holders) == sorted(m["id"] for m in vip)
    codes = session.scalars(select(Coupon.code)).all()
    assert len(set(codes)) == len(codes)
    listed = api.post("/v1/coupons/bulk", {"template_id": t["id"], "member_ids": [others[0]["id"]]})
    assert listed.status_code == 409 and listed.json()["code"] == "coupon_template_sold_out"
    assert session.scalar(select(Coupon.id).where(Coupon.member_id == others[0]["id"])) is None


# --- expiry ----------------------------------------------------------------------------------


def test_expiry_job(api, db, session, clock):
    api.store("SH001")
    member, code = coupon_for(api, valid_days=7)
    _, fixed = coupon_for(
        api, valid_days=None, valid_until=(START + timedelta(days=60)).isoformat()
    )
    clock.advance(days=8)
    assert validate(api, code, 6_000)["reason"] == "coupon_expired"
    assert redeem(api, code, 6_000).json()["code"] == "coupon_expired"
    done = expire_coupons(db.transaction, clock.now(), clock.now())
    assert (done.rows, done.members) == (1, 1)
    assert expire_coupons(db.transaction, clock.now(), clock.now()).rows == 0
    assert api.get(f"/v1/coupons/{code}").json()["status"] == "expired"
    assert api.get(f"/v1/coupons/{fixed}").json()["status"] == "issued"
    expired = api.get(f"/v1/members/{member['id']}/coupons", params={"status": "expired"})
    assert [c["code"] for c in expired.json()["items"]] == [code]


# --- validation, roles, report ---------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"percent_off": 15},  # two kinds at once
        {"kind": "percent_off", "amount_off": None},  # no percentage
        {"percent_off": 150, "kind": "percent_off", "amount_off": None},
        {"valid_days": None},  # no validity
        {"valid_until": "2026-05-01T00:00:00+08:00"},  # two validities
        {"amount_off": "1000"},
        {"store_codes": ["NOPE"]},
        {"name": ""},
    ],
)
def test_a_bad_template_is_refused_with_a_problem(api, change):
    r = api.post("/v1/coupon-templates", {**TEN_OFF_OVER_FIFTY, **change})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_a_patch_is_validated_as_a_whole(api):
    t = template(api)
    r = api.client.patch(
        f"/v1/coupon-templates/{t['id']}", json={"kind": "percent_off"}, headers=api.headers
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    ok = api.client.patch(
        f"/v1/coupon-templates/{t['id']}",
        json={"kind": "percent_off", "amount_off": None, "percent_off": 20},
        headers=api.headers,
    )
    assert ok.status_code == 200 and ok.json()["percent_off"] == 20


def test_the_issue_limit_cannot_go_below_what_was_already_issued(api):
    t = template(api, issue_limit=5)
    for _ in range(3):
        assert issue(api, t["id"], api.member()["id"]).status_code == 201

    def limit(n):
        return api.client.patch(
            f"/v1/coupon-templates/{t['id']}", json={"issue_limit": n}, headers=api.headers
        )

    low = limit(2)
    assert low.status_code == 422 and low.json()["code"] == "issue_limit_below_issued"
    assert low.json()["issued"] == 3
    assert limit(3).status_code == 200
    assert issue(api, t["id"], api.member()["id"]).json()["code"] == "coupon_template_sold_out"


def test_roles(api, session):
    t = template(api)
    member = api.member()
    reader = Api(api.client, key_for(session, "readonly"))
    till = Api(api.client, key_for(session, "pos"))
    assert reader.post("/v1/coupons", {"template_id": t["id"], "member_id": 1}).status_code == 403
    assert till.post("/v1/coupon-templates", TEN_OFF_OVER_FIFTY).status_code == 403
    assert (
        till.post("/v1/coupons/bulk", {"template_id": t["id"], "segment": "x"}).status_code == 403
    )
    assert issue(till, t["id"], member["id"]).status_code == 201
    assert reader.get(f"/v1/members/{member['id']}/coupons").status_code == 200
    assert reader.get("/v1/reports/coupons").status_code == 200
    assert till.get("/v1/reports/coupons").status_code == 403


def test_coupon_report(api, clock):
    api.store("SH001")
    t = template(api)
    codes = [issue(api, t["id"], api.member()["id"]).json()["code"] for _ in range(4)]
    redeem(api, codes[0], 6_000)
    api.post(f"/v1/coupons/{codes[1]}/void", {})
    clock.advance(days=31)
    report = api.get("/v1/reports/coupons").json()
    row = report["templates"][0]
    assert {k: row[k] for k in ("issued", "used", "expired", "voided", "outstanding")} == {
        "issued": 4,
        "used": 1,
        "expired": 2,
        "voided": 1,
        "outstanding": 0,
    }
    assert (row["usage_rate"], row["discount_given"]) == (0.25, 1_000)
    assert report["totals"]["discount_given"] == 1_000


def test_assess_explains_a_refusal():
    terms = Terms(name="x", kind="amount_off", amount_off=100, store_codes=("SH001",))
    lines = (OrderLine("A", 1, 500),)
    refused = assess(terms, Basket(amount=500, lines=lines, store_code="BJ001"))
    assert (refused.applies, refused.reason) == (False, "store_not_allowed")
    assert assess(terms, Basket(amount=500)).applies  # a preview without a store


# --- concurrency -----------------------------------------------------------------------------


def test_ten_parallel_redemptions_of_one_code_give_exactly_one_success(live_api, committed_db):
    url, token = live_api
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        assert c.post(
            "/v1/stores", json={"code": "SH001", "name": "店", "channel": "store"}
        ).is_success
        t = c.post("/v1/coupon-templates", json=TEN_OFF_OVER_FIFTY).json()
        member = c.post("/v1/members", json={}).json()["id"]
        body = {"template_id": t["id"], "member_id": member, "issue_id": "ONE"}
        code = c.post("/v1/coupons", json=body).json()["code"]

        def use(i: int) -> httpx.Response:
            body = {"store_code": "SH001", "amount": 6_000, "order_id": f"ORD-{i}"}
            return c.post(f"/v1/coupons/{code}/redeem", json=body)

        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(use, range(10)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [409] * 9, [r.text for r in answers]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"coupon_already_used"}
    with committed_db.reader() as s:
        coupon = s.scalar(select(Coupon).where(Coupon.code == code))
        assert coupon is not None and coupon.status == "used"
        assert _events(s, "coupon.redeemed") == 1


def _events(session: Session, topic: str) -> int:
    return len(session.scalars(select(OutboxEvent.id).where(OutboxEvent.topic == topic)).all())


def test_a_template_changed_through_the_api_leaves_issued_coupons_their_terms(api):
    _, code = coupon_for(api)
    t_id = api.get(f"/v1/coupons/{code}").json()["template_id"]
    r = api.client.patch(
        f"/v1/coupon-templates/{t_id}",
        json={"amount_off": 3000, "min_spend": 10000, "valid_days": 1},
        headers=api.headers,
    )
    assert r.status_code == 200 and r.json()["amount_off"] == 3000
    still = api.post(f"/v1/coupons/{code}/validate", {"amount": 6000}).json()
    assert still["applies"] is True and still["discount"] == 1_000  # ¥10 off ¥50, as issued
