"""Stored value (储值): top up ¥1,000 and get 100 points, pay at the till, refund, the report."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from httpx import Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.errors import LoyaltyError
from loyalty.ledger.models import Entry
from loyalty.ledger.verify import verify
from loyalty.members.models import Member
from loyalty.members.service import Registration, merge, register
from loyalty.notifications.models import OutboxEvent
from loyalty.programs.models import Program
from loyalty.wallet import topups
from loyalty.wallet.bonuses import BonusTier, replace_tiers
from loyalty.wallet.journal import find_wallet, move_wallet
from loyalty.wallet.models import Wallet
from loyalty.wallet.queries import expected_cost
from loyalty.wallet.service import PaymentRequest, WalletRefundRequest, pay, refund_payment
from loyalty.wallet.topups import TopUpRequest
from loyalty.wallet.verify import verify_wallets
from tests.conftest import START, assert_balanced
from tests.factories import Api, key_for

TIERS = [
    {"min_amount": 100_000, "bonus_points": 100, "bonus_amount": 0},  # 充 ¥1000 送 100 积分
    {"min_amount": 50_000, "bonus_amount": 3_000},  # 充 ¥500 送 ¥30
]


def balanced(session: Session) -> None:
    """Both journals agree with their caches: points (cache = entries = lots) and wallets."""
    assert_balanced(session)
    assert verify_wallets(session) == []


def set_tiers(api: Api, tiers: list[dict[str, int]] = TIERS) -> dict[str, Any]:
    r = api.client.put("/v1/wallet/top-up-bonuses", json={"tiers": tiers}, headers=api.headers)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def top_up(api: Api, member_id: int, amount: int, top_up_id: str, **kw: Any) -> Response:
    return api.post(
        f"/v1/members/{member_id}/wallet/top-ups",
        {"top_up_id": top_up_id, "amount": amount, **kw},
    )


def pay_at_till(api: Api, member_id: int, amount: int, payment_id: str, **kw: Any) -> Response:
    return api.post(
        f"/v1/members/{member_id}/wallet/payments",
        {"payment_id": payment_id, "amount": amount, **kw},
    )


def refund(api: Api, member_id: int, payment_id: str, refund_id: str, amount: int) -> Response:
    return api.post(
        f"/v1/members/{member_id}/wallet/payments/{payment_id}/refunds",
        {"refund_id": refund_id, "amount": amount},
    )


def wallet(api: Api, member_id: int, **params: Any) -> dict[str, Any]:
    r = api.get(f"/v1/members/{member_id}/wallet", params=params)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


# --- top-ups -------------------------------------------------------------------------------


def test_top_up_1000_get_100_points(api, session):
    set_tiers(api)
    member = api.member()
    r = top_up(api, member["id"], 100_000, "TU-1", payment_method="wechat")
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["wallet"] == {"balance": 100_000, "principal": 100_000, "bonus": 0}
    assert answer["points"]["awarded"] == 100
    assert answer["breakdown"][0]["description"] == "充值 ¥1000 赠 100 积分"
    assert answer["breakdown"][0]["description_en"] == "Top-up ¥1000 bonus: +100"
    assert answer["points"]["expires_at"] == (START + timedelta(days=365)).isoformat()
    assert api.points(member["id"])["available"] == 100
    entry = session.scalar(select(Entry).where(Entry.member_id == member["id"]))
    assert (entry.kind, entry.source_type, entry.source_id) == ("earn", "top_up", "TU-1")
    assert entry.breakdown[0]["points"] == 100
    balanced(session)


def test_top_up_500_gets_30_of_bonus_value_and_tiers_never_stack(api, session):
    set_tiers(api)
    member = api.member()
    half = top_up(api, member["id"], 50_000, "TU-500").json()
    assert half["bonus"] == {"amount": 3_000, "points": 0, "tier": TIERS[1] | {"bonus_points": 0}}
    assert half["wallet"] == {"balance": 53_000, "principal": 50_000, "bonus": 3_000}
    more = top_up(api, member["id"], 120_000, "TU-1200").json()  # the ¥1000 tier, alone
    assert (more["bonus"]["amount"], more["points"]["awarded"]) == (0, 100)
    assert more["breakdown"][0]["description"] == "充值 ¥1200（满 ¥1000）赠 100 积分"
    small = top_up(api, member["id"], 10_000, "TU-100").json()
    assert (small["bonus"]["amount"], small["points"]["awarded"], small["breakdown"]) == (0, 0, [])
    view = wallet(api, member["id"])
    assert (view["balance"], view["principal"], view["bonus"]) == (183_000, 180_000, 3_000)
    assert view["lifetime"] == {
        "topped_up": 180_000,
        "bonus_given": 3_000,
        "paid": 0,
        "refunded": 0,
    }
    balanced(session)


def test_operators_read_and_replace_the_bonus_tiers(api, session):
    assert api.get("/v1/wallet/top-up-bonuses").json() == {"tiers": []}
    answer = set_tiers(api)
    assert [t["min_amount"] for t in answer["tiers"]] == [50_000, 100_000]
    assert api.get("/v1/wallet/top-up-bonuses").json() == answer
    set_tiers(api, [{"min_amount": 20_000, "bonus_points": 10}])
    member = api.member()
    assert top_up(api, member["id"], 100_000, "TU-X").json()["points"]["awarded"] == 10


@pytest.mark.parametrize(
    "tiers, code, field",
    [
        ([{"min_amount": -1, "bonus_points": 5}], "validation_error", "body.tiers.0.min_amount"),
        (
            [{"min_amount": 100, "bonus_points": -5}],
            "validation_error",
            "body.tiers.0.bonus_points",
        ),
        (
            [{"min_amount": 100, "bonus_amount": "5"}],
            "validation_error",
            "body.tiers.0.bonus_amount",
        ),
        (
            [{"min_amount": 100, "bonus_points": 5}, {"min_amount": 100, "bonus_amount": 9}],
            "invalid_bonus_tiers",
            "tiers.1.min_amount",
        ),
        ([{"min_amount": 100}], "invalid_bonus_tiers", "tiers.0"),
    ],
)
def test_bad_bonus_tiers_are_refused_and_change_nothing(api, tiers, code, field):
    set_tiers(api)
    r = api.client.put("/v1/wallet/top-up-bonuses", json={"tiers": tiers}, headers=api.headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == code
    fields = [e["field"] for e in problem.get("errors", [])] + [problem.get("field")]
    assert field in fields
    assert len(api.get("/v1/wallet/top-up-bonuses").json()["tiers"]) == 2


# --- paying at the till and refunding ------------------------------------------------------


def test_paying_at_the_till_spends_principal_and_bonus_in_proportion(api, session):
    set_tiers(api)
    member = api.member()
    top_up(api, member["id"], 50_000, "TU-1")  # ¥500 + ¥30 bonus
    paid = pay_at_till(api, member["id"], 10_600, "PAY-1", order_id="ORD-9")
    assert paid.status_code == 201, paid.text
    assert (paid.json()["principal"], paid.json()["bonus"]) == (10_000, 600)
    assert paid.json()["wallet"] == {"balance": 42_400, "principal": 40_000, "bonus": 2_400}
    short = pay_at_till(api, member["id"], 42_401, "PAY-2")
    assert short.status_code == 409 and short.json()["code"] == "insufficient_balance"
    assert short.json()["balance"] == 42_400
    assert pay_at_till(api, member["id"], 42_400, "PAY-3").json()["wallet"]["balance"] == 0
    balanced(session)


def test_the_history_explains_every_movement_newest_first_in_pages(api, session):
    set_tiers(api)
    member = api.member()
    top_up(api, member["id"], 50_000, "TU-1")
    pay_at_till(api, member["id"], 5_300, "PAY-1", order_id="ORD-1")
    refund(api, member["id"], "PAY-1", "RF-1", 5_300)
    first = wallet(api, member["id"], limit=2)
    assert [e["kind"] for e in first["items"]] == ["refund", "payment"]
    assert first["items"][0]["description"] == "储值退款 ¥53，原支付 PAY-1"
    assert first["items"][1]["description"] == "储值支付 ¥53，订单 ORD-1"
    assert first["items"][0]["balance_after"] == 53_000
    rest = wallet(api, member["id"], limit=2, cursor=first["next_cursor"])
    assert [e["kind"] for e in rest["items"]] == ["bonus", "top_up"]
    assert rest["items"][0]["description"] == "充值 ¥500 赠送储值 ¥30"
    assert rest["items"][1]["description_en"] == "Top-up ¥500"
    assert wallet(api, member["id"], limit=2, cursor=rest["next_cursor"])["items"] == []
    bad = api.get(f"/v1/members/{member['id']}/wallet", params={"cursor": "nonsense"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


def test_partial_refunds_give_back_exactly_what_the_payment_took(api, session):
    set_tiers(api)
    member = api.member()
    top_up(api, member["id"], 50_000, "TU-1")
    pay_at_till(api, member["id"], 10_600, "PAY-1")  # ¥100 principal + ¥6 bonus
    parts = [refund(api, member["id"], "PAY-1", f"RF-{i}", 3_333).json() for i in range(3)]
    last = refund(api, member["id"], "PAY-1", "RF-3", 601).json()
    assert sum(p["principal"] for p in [*parts, last]) == 10_000
    assert sum(p["bonus"] for p in [*parts, last]) == 600
    assert last["refundable"] == 0
    assert last["wallet"] == {"balance": 53_000, "principal": 50_000, "bonus": 3_000}
    balanced(session)


def test_a_refund_never_exceeds_the_payment_and_happens_once(api, session):
    member = api.member()
    top_up(api, member["id"], 20_000, "TU-1")
    pay_at_till(api, member["id"], 10_000, "PAY-1")
    first = refund(api, member["id"], "PAY-1", "RF-1", 6_000)
    again = refund(api, member["id"], "PAY-1", "RF-1", 6_000)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = refund(api, member["id"], "PAY-1", "RF-1", 5_000)
    assert other.status_code == 409 and other.json()["code"] == "refund_conflict"
    too_much = refund(api, member["id"], "PAY-1", "RF-2", 4_001)
    assert too_much.status_code == 422 and too_much.json()["code"] == "refund_exceeds_payment"
    assert too_much.json()["refundable"] == 4_000
    assert wallet(api, member["id"])["balance"] == 16_000
    balanced(session)


def test_refunds_of_unknown_payments_or_someone_elses_are_404(api, session):
    member, stranger = api.member(), api.member()
    top_up(api, member["id"], 20_000, "TU-1")
    pay_at_till(api, member["id"], 10_000, "PAY-1")
    for who, payment in ((member["id"], "NEVER"), (stranger["id"], "PAY-1")):
        r = refund(api, who, payment, "RF-1", 100)
        assert r.status_code == 404 and r.json()["code"] == "payment_not_found"
    assert wallet(api, stranger["id"])["balance"] == 0
    assert refund(api, member["id"], "no such id", "RF-1", 100).status_code == 422


# --- the retry -----------------------------------------------------------------------------


def test_a_retried_top_up_is_credited_once(api, session):
    set_tiers(api)
    member = api.member()
    first = top_up(api, member["id"], 100_000, "TU-1")
    again = top_up(api, member["id"], 100_000, "TU-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert wallet(api, member["id"])["balance"] == 100_000
    assert api.points(member["id"])["available"] == 100
    changed = top_up(api, member["id"], 90_000, "TU-1")
    assert changed.status_code == 409 and changed.json()["code"] == "top_up_conflict"
    elsewhere = top_up(api, api.member()["id"], 100_000, "TU-1")
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "top_up_conflict"
    balanced(session)


def test_a_retried_payment_is_taken_once(api, session):
    member = api.member()
    top_up(api, member["id"], 10_000, "TU-1")
    first = pay_at_till(api, member["id"], 4_000, "PAY-1")
    again = pay_at_till(api, member["id"], 4_000, "PAY-1")
    assert first.json() == again.json() and again.status_code == 201
    changed = pay_at_till(api, member["id"], 4_001, "PAY-1")
    assert changed.status_code == 409 and changed.json()["code"] == "payment_conflict"
    keyed = {"headers": {"Idempotency-Key": "till-7-0001"}}
    body = {"payment_id": "PAY-2", "amount": 1_000}
    path = f"/v1/members/{member['id']}/wallet/payments"
    assert api.post(path, body, **keyed).json() == api.post(path, body, **keyed).json()
    assert wallet(api, member["id"])["balance"] == 5_000
    balanced(session)


# --- the report ----------------------------------------------------------------------------


def test_the_report_shows_outstanding_value_and_what_bonus_points_cost(api, session):
    program = session.scalar(select(Program))
    program.point_value = Decimal(1)  # ¥1 per point
    session.commit()
    set_tiers(api)
    member = api.member()
    top_up(api, member["id"], 100_000, "TU-1")  # 100 bonus points
    top_up(api, member["id"], 50_000, "TU-2")  # ¥30 bonus value
    pay_at_till(api, member["id"], 30_600, "PAY-1")
    refund(api, member["id"], "PAY-1", "RF-1", 5_100)  # ¥50 principal + ¥1 bonus back
    hold = api.hold(member["id"], 80).json()  # 80 of the 100 points issued are redeemed
    assert api.post(f"/v1/points/holds/{hold['id']}/capture").status_code == 200
    period = {"from": START.isoformat(), "to": (START + timedelta(days=1)).isoformat()}
    report = api.get("/v1/reports/stored-value", params=period).json()
    assert report["outstanding"] == {
        "amount": 127_500,
        "principal": 125_000,
        "bonus": 2_500,
        "wallets": 1,
    }
    assert report["outstanding_at_to"] == 127_500
    assert report["top_ups"] == {"count": 2, "amount": 150_000, "principal": 150_000, "bonus": 0}
    assert report["bonus_value"] == 3_000
    assert (report["payments"]["amount"], report["refunds"]["amount"]) == (30_600, 5_100)
    assert report["bonus_points"] == {
        "points": 100,
        "point_value": "1.000000",
        "value_amount": 10_000,  # ¥100 at face value
        "redemption_rate": 0.8,
        "expected_cost_amount": 8_000,  # ¥80 at the 80% observed redemption rate
    }
    before = {"from": "2025-01-01T00:00:00+08:00", "to": "2025-02-01T00:00:00+08:00"}
    quiet = api.get("/v1/reports/stored-value", params=before).json()
    assert (quiet["outstanding_at_to"], quiet["top_ups"]["count"]) == (0, 0)
    assert quiet["outstanding"]["amount"] == 127_500  # "now" does not depend on the period
    bad = api.get("/v1/reports/stored-value", params={**period, "from": period["to"]})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_period"
    balanced(session)


def test_expected_cost_is_exact_in_fen():
    assert expected_cost(100, Decimal(1), 80, 100) == 8_000
    assert expected_cost(100, Decimal("0.01"), 1, 3) == 33
    assert expected_cost(100, Decimal(1), 0, 0) == 0
    assert expected_cost(100, Decimal(1), 120, 100) == 10_000  # never above face value


# --- who may do what -----------------------------------------------------------------------


def test_roles_tills_top_up_and_pay_readers_read_admins_set_bonuses(api, session):
    member = api.member()
    top_up(api, member["id"], 10_000, "TU-1")
    till = Api(api.client, key_for(session, "pos"))
    reader = Api(api.client, key_for(session, "readonly"))
    assert top_up(till, member["id"], 1_000, "TU-2").status_code == 201
    assert pay_at_till(till, member["id"], 1_000, "PAY-1").status_code == 201
    assert top_up(reader, member["id"], 1_000, "TU-3").status_code == 403
    assert pay_at_till(reader, member["id"], 1_000, "PAY-2").status_code == 403
    assert reader.get(f"/v1/members/{member['id']}/wallet").status_code == 200
    assert reader.get("/v1/reports/stored-value").status_code == 200
    assert till.get("/v1/reports/stored-value").status_code == 403
    assert till.get("/v1/wallet/top-up-bonuses").status_code == 200
    for who in (till, reader):
        r = who.client.put("/v1/wallet/top-up-bonuses", json={"tiers": TIERS}, headers=who.headers)
        assert r.status_code == 403
    no_key = api.client.get(f"/v1/members/{member['id']}/wallet")
    assert no_key.status_code == 401


def test_a_store_till_acts_for_its_own_store_only(api, session):
    api.store("SH001")
    api.store("SH002")
    member = api.member()
    till = Api(api.client, key_for(session, "pos", "SH001"))
    other = Api(api.client, key_for(session, "pos", "SH002"))
    answer = top_up(till, member["id"], 10_000, "TU-1").json()
    assert answer["store_code"] == "SH001"
    assert top_up(till, member["id"], 1_000, "TU-2", store_code="SH002").status_code == 403
    assert pay_at_till(till, member["id"], 2_000, "PAY-1").json()["store_code"] == "SH001"
    assert refund(other, member["id"], "PAY-1", "RF-1", 1_000).status_code == 403
    assert refund(till, member["id"], "PAY-1", "RF-1", 1_000).status_code == 201
    balanced(session)


def test_wallet_changes_are_told_to_the_outbox(api, session):
    member = api.member()
    top_up(api, member["id"], 10_000, "TU-1")
    pay_at_till(api, member["id"], 4_000, "PAY-1")
    refund(api, member["id"], "PAY-1", "RF-1", 1_000)
    events = session.scalars(
        select(OutboxEvent).where(OutboxEvent.topic.like("wallet.%")).order_by(OutboxEvent.id)
    ).all()
    assert [(e.topic, e.payload["amount"], e.payload["balance"]) for e in events] == [
        ("wallet.topped_up", 10_000, 10_000),
        ("wallet.paid", 4_000, 6_000),
        ("wallet.refunded", 1_000, 7_000),
    ]
    assert events[2].payload["payment_id"] == "PAY-1" and events[0].member_id == member["id"]


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": 0}, "body.amount"),
        ({"amount": -100}, "body.amount"),
        ({"amount": "100"}, "body.amount"),
        ({"amount": 1.5}, "body.amount"),
        ({"amount": 10**15}, "body.amount"),
        ({"top_up_id": ""}, "body.top_up_id"),
        ({"top_up_id": "has space"}, "body.top_up_id"),
        ({"top_up_id": "x" * 65}, "body.top_up_id"),
        ({"top_up_id": None}, "body.top_up_id"),
        ({"payment_method": "x" * 33}, "body.payment_method"),
        ({"payment_method": "wechat\x00"}, "body.payment_method"),
        ({"store_code": "no spaces"}, "body.store_code"),
    ],
)
def test_bad_top_ups_are_422_with_the_field_and_change_nothing(api, session, change, field):
    member = api.member()
    r = api.post(
        f"/v1/members/{member['id']}/wallet/top-ups",
        {"top_up_id": "TU-1", "amount": 10_000, **change},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]
    assert wallet(api, member["id"])["balance"] == 0


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": 0}, "body.amount"),
        ({"amount": "10"}, "body.amount"),
        ({"payment_id": "a/b c"}, "body.payment_id"),
        ({"order_id": ""}, "body.order_id"),
    ],
)
def test_bad_payments_are_422_with_the_field(api, session, change, field):
    member = api.member()
    top_up(api, member["id"], 10_000, "TU-1")
    r = api.post(
        f"/v1/members/{member['id']}/wallet/payments",
        {"payment_id": "PAY-1", "amount": 1_000, **change},
    )
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert wallet(api, member["id"])["balance"] == 10_000


def test_unknown_members_stores_and_inactive_members_are_clear_errors(api, session):
    assert top_up(api, 999_999, 1_000, "TU-1").json()["code"] == "member_not_found"
    assert api.get("/v1/members/999999/wallet").json()["code"] == "member_not_found"
    assert api.get("/v1/members/0/wallet").status_code == 422
    member = api.member()
    unknown = top_up(api, member["id"], 1_000, "TU-1", store_code="NOPE")
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_store"
    assert pay_at_till(api, member["id"], 1, "PAY-0").json()["code"] == "insufficient_balance"
    top_up(api, member["id"], 1_000, "TU-2")
    session.get(Member, member["id"]).status = "frozen"
    session.commit()
    frozen = pay_at_till(api, member["id"], 500, "PAY-1")
    assert frozen.status_code == 409 and frozen.json()["code"] == "member_not_active"
    assert top_up(api, member["id"], 1_000, "TU-3").json()["code"] == "member_not_active"
    assert top_up(api, member["id"], 1_000, "TU-2").status_code == 201  # a retry still replays
    for raw in (b"{", b"[]", b"null", b""):
        r = api.client.post(
            f"/v1/members/{member['id']}/wallet/payments",
            content=raw,
            headers={**api.headers, "content-type": "application/json"},
        )
        assert 400 <= r.status_code < 500 and r.json()["code"]


# --- merge and any sequence ----------------------------------------------------------------


def _new_member(session: Session) -> Member:
    return register(session, 1, Registration(), START)


def test_merging_two_accounts_moves_the_stored_value(session):
    program = session.get(Program, 1)
    shop, online = _new_member(session), _new_member(session)
    for m, amount in ((shop, 30_000), (online, 5_000)):
        topups.top_up(session, program, TopUpRequest(f"T-{m.id}", m.id, amount, "h"), START)
    merge(session, 1, online.id, shop.id, START, "test")
    move_wallet(session, shop, online, START, "test")
    balances = [
        w.balance if w else None for w in (find_wallet(session, m.id) for m in (shop, online))
    ]
    assert balances == [0, 35_000]
    paid = pay(session, program, PaymentRequest("P-1", shop.id, 35_000, "h"), START)
    assert paid["member_id"] == online.id  # the old account's card pays from the survivor
    balanced(session)


def test_verify_catches_a_balance_that_drifted_from_the_journal(session):
    member = _new_member(session)
    topups.top_up(
        session, session.get(Program, 1), TopUpRequest("T-1", member.id, 5_000, "h"), START
    )
    row = find_wallet(session, member.id)
    assert row is not None and verify_wallets(session) == []
    row.balance += 1
    session.flush()
    assert {m.check for m in verify_wallets(session)} == {"balance", "parts", "balance_after"}


wallet_ops = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), st.integers(0, 1), st.integers(1, 200_000)),
        st.tuples(st.just("pay"), st.integers(0, 1), st.integers(1, 200_000)),
        st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 100_000)),
    ),
    min_size=1,
    max_size=20,
)


def _step(
    session: Session,
    program: Program,
    members: list[int],
    payments: list[tuple[int, str]],
    i: int,
    op: str,
    a: int,
    amount: int,
) -> None:
    """One top-up, payment or refund; a refused one (short balance, refund beyond the
    payment) must change nothing."""
    try:
        with session.begin_nested():
            if op == "top_up":
                topups.top_up(
                    session, program, TopUpRequest(f"T{i}", members[a], amount, "h"), START
                )
            elif op == "pay":
                pay(session, program, PaymentRequest(f"P{i}", members[a], amount, "h"), START)
                payments.append((members[a], f"P{i}"))
            elif payments:
                member, payment = payments[a % len(payments)]
                req = WalletRefundRequest(f"R{i}", amount, "h")
                refund_payment(session, program, member, payment, req, START)
    except LoyaltyError:
        pass


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=wallet_ops)
def test_any_sequence_keeps_every_wallet_balanced(db, steps):
    with db.writer() as session:
        program = session.get(Program, 1)
        replace_tiers(
            session, 1, [BonusTier(50_000, 10, 3_000), BonusTier(100_000, 0, 7_000)], START
        )
        members = [_new_member(session).id for _ in range(2)]
        payments: list[tuple[int, str]] = []
        for i, step in enumerate(steps):
            _step(session, program, members, payments, i, *step)
            session.flush()
            assert verify_wallets(session) == [], step
            assert verify(session) == []
        for wallet_row in session.scalars(select(Wallet)):
            assert wallet_row.principal >= 0 and wallet_row.bonus >= 0
        session.rollback()


# --- real concurrency ----------------------------------------------------------------------


def test_twenty_payments_of_ten_against_a_hundred_give_exactly_ten(live_api, committed_db):
    url, token = live_api
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        member = client.post("/v1/members", json={}).json()["id"]
        body = {"top_up_id": "SEED", "amount": 10_000}
        assert client.post(f"/v1/members/{member}/wallet/top-ups", json=body).status_code == 201

        def pay_ten(i):
            return client.post(
                f"/v1/members/{member}/wallet/payments",
                json={"payment_id": f"C-{i}", "amount": 1_000},
            ).status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(pay_ten, range(20)))
        assert sorted(statuses) == [201] * 10 + [409] * 10
        view = client.get(f"/v1/members/{member}/wallet").json()
        assert (view["balance"], view["lifetime"]["paid"]) == (0, 10_000)
    with committed_db.reader() as s:
        assert verify_wallets(s) == [] and verify(s) == []
