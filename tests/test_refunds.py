"""Refunds take back what the order earned: the exploit of buy, spend, refund is closed."""

from sqlalchemy import select

from loyalty.programs.models import Program
from tests.conftest import START, assert_balanced


def test_partial_refunds_add_up_to_exactly_the_points_earned(api, session):
    member = api.member()
    api.order(member["id"], 10_000, START, order_id="A-1")  # 100 points
    parts = [api.refund("A-1", f"R-{i}", 3_333).json()["points_reversed"] for i in range(3)]
    last = api.refund("A-1", "R-3", 1).json()["points_reversed"]
    assert sum(parts) + last == 100
    assert api.points(member["id"])["available"] == 0
    assert_balanced(session)


def test_a_refund_is_taken_once_per_refund_id(api, session):
    member = api.member()
    api.order(member["id"], 10_000, START, order_id="A-2")
    first = api.refund("A-2", "R-1", 5_000)
    again = api.refund("A-2", "R-1", 5_000)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert api.points(member["id"])["available"] == 50
    other = api.refund("A-2", "R-1", 4_000)
    assert other.status_code == 409 and other.json()["code"] == "refund_conflict"


def test_refunds_beyond_the_order_amount_are_refused(api, session):
    member = api.member()
    api.order(member["id"], 10_000, START, order_id="A-3")
    assert api.refund("A-3", "R-1", 6_000).status_code == 201
    too_much = api.refund("A-3", "R-2", 4_001)
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "refund_exceeds_order"
    assert too_much.json()["refundable"] == 4_000
    assert api.points(member["id"])["available"] == 40
    assert_balanced(session)


def test_refund_of_an_unknown_order_is_404(api):
    r = api.refund("NEVER", "R-1", 100)
    assert r.status_code == 404 and r.json()["code"] == "order_not_found"


def test_buy_spend_refund_takes_from_other_lots_then_records_a_debt(api, session):
    member = api.member()
    api.order(member["id"], 3_000, START, order_id="OLD")  # 30 points from before
    api.order(member["id"], 10_000, START, order_id="BIG")  # 100 points
    hold = api.hold(member["id"], 120).json()
    assert api.post(f"/v1/points/holds/{hold['id']}/capture").status_code == 200
    assert api.points(member["id"])["available"] == 10
    refund = api.refund("BIG", "R-BIG", 10_000).json()
    assert refund["points_reversed"] == 100
    assert refund["member_points"] == {"available": -90, "pending": 0, "debt": 90}
    assert_balanced(session)
    # The next purchase repays the debt before anything becomes spendable.
    api.order(member["id"], 12_000, START, order_id="NEXT")
    points = api.points(member["id"])
    assert (points["available"], points["debt"]) == (30, 0)
    assert api.hold(member["id"], 31).json()["code"] == "insufficient_points"
    assert_balanced(session)


def test_refund_inside_the_return_window_cancels_pending_points(api, session, clock):
    program = session.scalar(select(Program))
    program.pending_days = 7
    session.commit()
    member = api.member()
    answer = api.order(member["id"], 20_000, START, order_id="P-1")
    assert answer["points"]["status"] == "pending"
    assert api.points(member["id"])["pending"] == 200
    api.refund("P-1", "R-P-1", 20_000)
    points = api.points(member["id"])
    assert (points["available"], points["pending"], points["debt"]) == (0, 0, 0)
    assert_balanced(session)
