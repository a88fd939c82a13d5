"""Lots, expiry, the return window and held points timing out."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from loyalty.ledger.jobs import expire_lots, release_holds, vest_lots
from loyalty.ledger.models import Entry
from loyalty.ledger.verify import verify
from loyalty.members.models import Member
from loyalty.notifications.models import OutboxEvent
from loyalty.programs.models import Program
from tests.conftest import START, assert_balanced


def _expire(db, as_of):
    return expire_lots(db.transaction, as_of, as_of)


def test_points_expire_a_year_after_they_were_earned(api, db, session):
    member = api.member()
    api.order(member["id"], 5_000, START)
    assert _expire(db, START + timedelta(days=364)).points == 0
    result = _expire(db, START + timedelta(days=365))
    assert (result.points, result.rows, result.members) == (50, 1, 1)
    points = api.points(member["id"])
    assert (points["available"], points["lifetime_expired"]) == (0, 50)
    expired, earned = api.get(f"/v1/members/{member['id']}/ledger").json()["items"]
    assert (expired["kind"], earned["kind"]) == ("expire", "earn")
    assert (expired["points"], expired["description"]) == (-50, "积分到期")
    assert expired["occurred_at"] == earned["expires_at"]  # when it ran out, not when the job ran
    event = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "points.expired")).one()
    assert (event.member_id, event.payload) == (member["id"], {"points": 50})
    assert_balanced(session)


def test_running_expiry_twice_expires_nothing_more(api, db, session):
    member = api.member()
    api.order(member["id"], 5_000, START)
    later = START + timedelta(days=400)
    assert _expire(db, later).points == 50
    assert _expire(db, later).points == 0
    assert session.scalar(select(Entry).where(Entry.kind == "expire")).points == -50
    assert_balanced(session)


def test_lots_due_together_expire_as_one_line_per_issuing_store(api, db, session):
    api.store("SH001"), api.store("SH002")
    member = api.member()
    for days_ago, store, amount in (
        (30, "SH001", 3_000),
        (29, "SH001", 2_000),
        (28, "SH002", 4_000),
    ):
        at = START - timedelta(days=days_ago)
        api.order(member["id"], amount, at, store_code=store, order_id=f"D-{days_ago}")
    adjustment = {"member_id": member["id"], "points": 7, "reason": "补偿"}
    api.ok("/v1/points/adjustments", adjustment | {"expires_at": _at(START, days=300)})
    api.order(member["id"], 1_000, START, store_code="SH002")  # due in a year: stays
    result = _expire(db, START + timedelta(days=340))
    # Four lots ran out together (30 + 20 issued at SH001, 40 at SH002, 7 adjusted).
    assert (result.points, result.rows, result.members) == (97, 4, 1)
    items = api.get(f"/v1/members/{member['id']}/ledger").json()["items"]
    expired = {e["store_code"]: e for e in items if e["kind"] == "expire"}
    assert {code: e["points"] for code, e in expired.items()} == {
        None: -7,
        "SH001": -50,
        "SH002": -40,
    }
    last_at_sh001 = next(e for e in items if e["source"]["id"] == "D-29")
    assert expired["SH001"]["occurred_at"] == last_at_sh001["expires_at"]
    assert api.points(member["id"])["available"] == 10
    assert_balanced(session)


def _at(start, **delta):
    return (start + timedelta(**delta)).isoformat()


def test_spending_uses_the_soonest_expiring_points_first(api, db, session):
    member = api.member()
    api.order(member["id"], 4_000, START - timedelta(days=300), order_id="OLD")  # 40, older
    api.order(member["id"], 6_000, START, order_id="NEW")  # 60
    hold = api.hold(member["id"], 50).json()
    api.post(f"/v1/points/holds/{hold['id']}/capture")
    # The old lot (40) was used up first; 10 came from the new one: nothing left to expire
    # when the old lot's year ends.
    assert _expire(db, START + timedelta(days=66)).points == 0
    assert _expire(db, START + timedelta(days=366)).points == 50
    assert_balanced(session)


def test_points_expire_after_the_soonest_lot_was_spent_before_its_time(api, db, session):
    member = api.member()
    api.order(member["id"], 4_000, START - timedelta(days=300), order_id="OLD")  # 40
    api.order(member["id"], 6_000, START, order_id="NEW")  # 60
    hold = api.hold(member["id"], 40).json()
    api.post(f"/v1/points/holds/{hold['id']}/capture")
    # The job looks at the member when the spent lot's time comes, finds nothing due, and
    # comes back when the next one's does.
    assert _expire(db, START + timedelta(days=66)).points == 0
    session.expire_all()
    assert session.get(Member, member["id"]).lots_expire_from == START + timedelta(days=365)
    assert _expire(db, START + timedelta(days=365)).points == 60
    assert_balanced(session)


def test_one_run_expires_some_members_and_moves_on_those_who_spent_theirs(api, db, session):
    """A chunk where one member's due lot was spent and another's was not: the first is
    looked at again when her next lot is due, the second loses what was due."""
    spender, keeper = api.member(), api.member()
    for member in (spender, keeper):
        api.order(member["id"], 4_000, START - timedelta(days=300), order_id=f"OLD-{member['id']}")
        api.order(member["id"], 6_000, START, order_id=f"NEW-{member['id']}")
    hold = api.hold(spender["id"], 40).json()
    api.post(f"/v1/points/holds/{hold['id']}/capture")
    assert _expire(db, START + timedelta(days=66)).points == 40  # the keeper's old lot
    session.expire_all()
    assert session.get(Member, spender["id"]).lots_expire_from == START + timedelta(days=365)
    assert session.get(Member, keeper["id"]).lots_expire_from == START + timedelta(days=365)
    assert api.points(keeper["id"])["available"] == 60
    assert_balanced(session)


def test_points_given_back_to_a_lot_that_ran_out_expire_on_the_next_run(api, db, session, clock):
    member = api.member()
    api.order(member["id"], 10_000, START - timedelta(days=365) + timedelta(hours=1))
    hold = api.post(
        "/v1/points/holds",
        {"member_id": member["id"], "points": 80, "reference": "T-1", "ttl_seconds": 7200},
    ).json()
    assert _expire(db, START + timedelta(hours=1)).points == 20  # the 80 are held
    clock.advance(seconds=3600)
    assert api.post(f"/v1/points/holds/{hold['id']}/void").status_code == 200
    assert api.points(member["id"])["available"] == 80  # back, on a lot already due
    assert_balanced(session)  # the expiry bound came back down to that lot
    assert _expire(db, START + timedelta(hours=1)).points == 80
    assert api.points(member["id"])["available"] == 0
    assert_balanced(session)


def test_a_merged_account_s_points_expire_on_their_own_dates(api, db, session):
    survivor, source = api.member(), api.member()
    api.order(survivor["id"], 5_000, START)
    api.order(source["id"], 3_000, START - timedelta(days=200))
    merged = api.post(f"/v1/members/{survivor['id']}/merge", {"source_member_id": source["id"]})
    assert merged.status_code == 200, merged.text
    assert _expire(db, START + timedelta(days=165)).points == 30
    assert _expire(db, START + timedelta(days=365)).points == 50
    assert_balanced(session)


def test_verify_finds_points_the_expiry_job_would_never_see(api, session):
    member = api.member()
    api.order(member["id"], 5_000, START)
    session.get(Member, member["id"]).lots_expire_from = START + timedelta(days=366)
    session.flush()
    problems = verify(session)
    assert [(p.member_id, p.check, p.actual) for p in problems] == [
        (member["id"], "expiry_bound", 50)
    ]


def test_calendar_year_policy_clears_points_at_the_end_of_next_year(api, db, session):
    program = session.scalar(select(Program))
    program.expiry_policy, program.expiry_years = "calendar_year", 1
    session.commit()
    member = api.member()
    earned = datetime(2026, 3, 4, 2, tzinfo=UTC)
    answer = api.order(member["id"], 10_000, earned)
    # Valid until 2027-12-31 23:59:59 Shanghai time = 2027-12-31T16:00Z.
    assert answer["points"]["expires_at"] == "2027-12-31T16:00:00+00:00"
    assert _expire(db, datetime(2027, 12, 31, 15, 59, tzinfo=UTC)).points == 0
    assert _expire(db, datetime(2027, 12, 31, 16, 0, tzinfo=UTC)).points == 100
    assert_balanced(session)


def test_never_expiring_points_stay(api, db, session):
    program = session.scalar(select(Program))
    program.expiry_policy = "never"
    session.commit()
    member = api.member()
    assert api.order(member["id"], 1_000, START)["points"]["expires_at"] is None
    assert _expire(db, START + timedelta(days=5000)).points == 0


def test_pending_points_vest_after_the_return_window(api, db, session):
    program = session.scalar(select(Program))
    program.pending_days = 7
    session.commit()
    member = api.member()
    answer = api.order(member["id"], 10_000, START)
    assert answer["points"]["available_at"] == (START + timedelta(days=7)).isoformat()
    assert api.hold(member["id"], 1).status_code == 409
    assert vest_lots(db.transaction, START + timedelta(days=6), START).points == 0
    assert vest_lots(db.transaction, START + timedelta(days=7), START).points == 100
    points = api.points(member["id"])
    assert (points["available"], points["pending"]) == (100, 0)
    assert_balanced(session)


def test_holds_past_their_time_out_are_voided_by_the_job(api, db, session, clock):
    member = api.member()
    api.order(member["id"], 10_000, START)
    hold = api.post(
        "/v1/points/holds",
        {"member_id": member["id"], "points": 80, "reference": "T-1", "ttl_seconds": 60},
    ).json()
    assert api.points(member["id"])["held"] == 80
    assert release_holds(db.transaction, START + timedelta(seconds=59), START).rows == 0
    assert release_holds(db.transaction, START + timedelta(seconds=60), START).rows == 1
    points = api.points(member["id"])
    assert (points["available"], points["held"]) == (100, 0)
    clock.advance(seconds=61)
    late = api.post(f"/v1/points/holds/{hold['id']}/capture")
    assert late.status_code == 409 and late.json()["code"] == "hold_not_open"
    assert_balanced(session)


def test_expiring_points_are_listed_soonest_first(api):
    member = api.member()
    api.order(member["id"], 1_000, START - timedelta(days=100))
    api.order(member["id"], 2_000, START)
    expiring = api.points(member["id"])["expiring"]
    assert [e["points"] for e in expiring] == [10, 20]
