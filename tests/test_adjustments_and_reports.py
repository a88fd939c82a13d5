"""Manual adjustments and the points summary."""

from datetime import timedelta

from tests.conftest import START, assert_balanced


def test_an_adjustment_needs_a_reason_and_records_who_made_it(api, session):
    member = api.member()
    missing = api.post("/v1/points/adjustments", {"member_id": member["id"], "points": 50})
    assert missing.status_code == 422
    entry = api.ok(
        "/v1/points/adjustments",
        {"member_id": member["id"], "points": 50, "reason": "补录纸质小票"},
        201,
    )
    assert entry["kind"] == "adjust" and entry["points"] == 50
    assert entry["actor"].startswith("apikey:") and "补录纸质小票" in entry["description"]
    down = api.ok(
        "/v1/points/adjustments",
        {"member_id": member["id"], "points": -20, "reason": "重复积分"},
        201,
    )
    assert down["points"] == -20
    too_much = api.post(
        "/v1/points/adjustments", {"member_id": member["id"], "points": -31, "reason": "x"}
    )
    assert too_much.status_code == 409 and too_much.json()["code"] == "insufficient_points"
    zero = api.post(
        "/v1/points/adjustments", {"member_id": member["id"], "points": 0, "reason": "x"}
    )
    assert zero.status_code == 422 and zero.json()["code"] == "invalid_adjustment"
    assert api.points(member["id"])["available"] == 30
    assert_balanced(session)


def test_holds_capture_in_part_and_void(api, session):
    member = api.member()
    api.order(member["id"], 10_000, START)
    hold = api.hold(member["id"], 60).json()
    assert hold["status"] == "held"
    captured = api.ok(f"/v1/points/holds/{hold['id']}/capture", {"points": 45})
    assert (captured["status"], captured["captured_points"]) == ("captured", 45)
    assert api.points(member["id"])["available"] == 55
    again = api.post(f"/v1/points/holds/{hold['id']}/capture")
    assert again.status_code == 409 and again.json()["code"] == "hold_not_open"
    second = api.hold(member["id"], 55).json()
    over = api.post(f"/v1/points/holds/{second['id']}/capture", {"points": 56})
    assert over.status_code == 422 and over.json()["code"] == "capture_exceeds_hold"
    assert api.ok(f"/v1/points/holds/{second['id']}/void")["status"] == "voided"
    points = api.points(member["id"])
    assert (points["available"], points["held"], points["lifetime_redeemed"]) == (55, 0, 45)
    assert api.post("/v1/points/holds/999999/void").status_code == 404
    assert_balanced(session)


def test_points_summary_reports_flows_liability_and_rates(api, db, session):
    from loyalty.ledger.jobs import expire_lots

    member = api.member()
    api.order(member["id"], 100_000, START - timedelta(days=400), order_id="OLD")  # 1000
    api.order(member["id"], 50_000, START, order_id="NEW")  # 500
    expire_lots(db.transaction, START, START)  # the old 1000 expire
    hold = api.hold(member["id"], 200).json()
    api.post(f"/v1/points/holds/{hold['id']}/capture")
    api.post(
        "/v1/points/adjustments", {"member_id": member["id"], "points": 10, "reason": "goodwill"}
    )
    summary = api.get(
        "/v1/reports/points-summary",
        params={
            "from": (START - timedelta(days=500)).isoformat(),
            "to": (START + timedelta(days=1)).isoformat(),
        },
    ).json()
    assert summary["issued"] == 1500 and summary["redeemed"] == 200
    assert summary["expired"] == 1000 and summary["adjusted"] == 10
    assert summary["outstanding"] == 310
    assert summary["liability_amount"] == 310  # 310 points at ¥0.01 = 310 fen
    assert summary["redemption_rate"] == round(200 / 1500, 4)
    assert summary["breakage_rate"] == round(1000 / 1500, 4)
    bad = api.get(
        "/v1/reports/points-summary",
        params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_period"
