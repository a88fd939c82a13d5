"""Tasks (check-in streaks, share, review, profile, registration) and two-level referrals."""

from datetime import timedelta

from tests.conftest import START, assert_balanced


def _task(api, type_, **body):
    r = api.client.put(f"/v1/tasks/{type_}", json=body, headers=api.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _event(api, member_id, type_, at, event_id=None):
    return api.post(
        "/v1/events",
        {
            "event_id": event_id or f"{type_}-{member_id}-{at:%Y%m%d%H%M}",
            "member_id": member_id,
            "type": type_,
            "occurred_at": at.isoformat(),
        },
    )


def test_daily_check_in_with_a_seven_day_streak_bonus(api, session, clock):
    _task(
        api,
        "check_in",
        name="每日签到",
        name_en="Daily check-in",
        points=5,
        daily_limit=1,
        streak_bonuses={"7": 50},
    )
    member = api.member()
    day0 = START - timedelta(days=6)
    awarded = [
        _event(api, member["id"], "check_in", day0 + timedelta(days=d)).json() for d in range(7)
    ]
    assert [a["streak"] for a in awarded] == [1, 2, 3, 4, 5, 6, 7]
    assert [a["points"]["awarded"] for a in awarded] == [5] * 6 + [55]
    assert awarded[-1]["breakdown"][1]["description"] == "连续每日签到 7 天奖励: +50"
    again = _event(api, member["id"], "check_in", START + timedelta(hours=3)).json()
    assert again["points"] == {"awarded": 0, "reason": "daily limit of 1 reached"}
    clock.advance(days=2)
    after_gap = _event(api, member["id"], "check_in", START + timedelta(days=2)).json()
    assert (after_gap["streak"], after_gap["points"]["awarded"]) == (1, 5)
    assert api.points(member["id"])["available"] == 5 * 7 + 50 + 5
    assert_balanced(session)


def test_an_event_is_rewarded_exactly_once(api):
    _task(api, "share", name="分享", points=3, daily_limit=5)
    member = api.member()
    first = _event(api, member["id"], "share", START, "SHARE-1")
    again = _event(api, member["id"], "share", START, "SHARE-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = _event(api, member["id"], "review", START, "SHARE-1")
    assert other.status_code == 409 and other.json()["code"] == "event_conflict"
    assert api.points(member["id"])["available"] == 3


def test_limits_per_day_and_per_lifetime(api):
    _task(api, "share", name="分享", points=3, daily_limit=2)
    _task(api, "profile_completion", name="完善资料", points=20, lifetime_limit=1)
    member = api.member()
    shares = [
        _event(api, member["id"], "share", START, f"S{i}").json()["points"]["awarded"]
        for i in range(3)
    ]
    assert shares == [3, 3, 0]
    profile = [
        _event(api, member["id"], "profile_completion", START - timedelta(days=d), f"P{d}").json()[
            "points"
        ]["awarded"]
        for d in range(2)
    ]
    assert profile == [20, 0]


def test_unknown_event_types_are_refused(api):
    member = api.member()
    r = _event(api, member["id"], "dance", START)
    assert r.status_code == 422 and r.json()["code"] == "unknown_event_type"


def test_registration_reward(api, session):
    _task(api, "registration", name="注册有礼", points=100)
    member = api.member()
    assert api.points(member["id"])["available"] == 100
    assert_balanced(session)


def test_two_level_referral_on_the_first_order(api, session):
    api.client.put(
        "/v1/referrals/settings",
        headers=api.headers,
        json={"levels": [100, 30], "trigger": "first_order"},
    )
    grandparent = api.member()
    parent = api.member(referral_code=grandparent["referral_code"])
    child = api.member(referral_code=parent["referral_code"])
    assert api.points(parent["id"])["available"] == 0  # nothing on registration
    api.order(child["id"], 1_000, START)
    assert api.points(parent["id"])["available"] == 100
    assert api.points(grandparent["id"])["available"] == 30
    api.order(child["id"], 1_000, START)  # a second order pays nobody again
    assert api.points(parent["id"])["available"] == 100
    info = api.get(f"/v1/members/{parent['id']}/referrals").json()
    assert (info["referees"], info["points_earned"]) == (1, 100)
    # The parent's own first order pays the grandparent, once.
    api.order(parent["id"], 1_000, START)
    assert api.points(grandparent["id"])["available"] == 130
    assert_balanced(session)


def test_referral_on_registration(api):
    api.client.put(
        "/v1/referrals/settings",
        headers=api.headers,
        json={"levels": [50], "trigger": "registration"},
    )
    referrer = api.member()
    api.member(referral_code=referrer["referral_code"])
    assert api.points(referrer["id"])["available"] == 50


def test_a_member_cannot_refer_themselves(api):
    r = api.post("/v1/members", {"phone": "13512345678", "referral_code": "SELF0000"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_referral_code"
