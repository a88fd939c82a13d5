"""Signing in to the console: passwords, lockout, CSRF, sessions, roles and languages."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from loyalty.users.models import AuditEntry
from tests.conftest import START
from tests.web import PASSWORD, browser, make_user


def test_an_owner_signs_in_and_lands_on_the_dashboard(app, session):
    owner = make_user(session, "owner")
    b = browser(app)
    assert (
        b.get("/console", follow_redirects=False).headers["location"].startswith("/console/login")
    )
    answer = b.sign_in(owner)
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    page = b.get("/console")
    assert page.status_code == 200 and "数据概览" in page.text  # Chinese first
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.username == owner)) == (
        "user.sign_in"
    )


def test_a_wrong_password_is_refused_and_five_lock_the_account(app, session):
    clerk = make_user(session, "owner")
    b = browser(app)
    for _ in range(4):
        refused = b.sign_in(clerk, "wrong password")
        assert refused.status_code == 401 and "用户名或密码错误" in refused.text
    assert b.sign_in(clerk, "wrong password").status_code == 401
    locked = b.sign_in(clerk, PASSWORD)  # the right password no longer opens it
    assert locked.status_code == 401 and "密码错误次数过多" in locked.text


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(app, session):
    b = browser(app)
    assert b.sign_in("nobody", "whatever1").status_code == 401


def test_a_form_without_its_csrf_token_is_refused(app, session):
    owner = make_user(session, "owner")
    b = browser(app)
    b.sign_in(owner)
    b.get("/console")
    b.csrf = "forged"
    answer = b.post("/console/logout")
    assert answer.status_code == 403
    assert b.get("/console", follow_redirects=False).status_code == 200  # still signed in


def test_sign_in_itself_needs_the_pre_session_token(app, session):
    owner = make_user(session, "owner")
    b = browser(app)
    b.get("/console/login")
    b.csrf = "forged"
    assert b.post("/console/login", {"username": owner, "password": PASSWORD}).status_code == 403


def test_signing_out_ends_the_session(app, session):
    owner = make_user(session, "owner")
    b = browser(app)
    b.sign_in(owner)
    b.get("/console")
    assert b.post("/console/logout").status_code == 303
    assert b.get("/console", follow_redirects=False).status_code == 303


def test_changing_the_password_signs_out_the_other_sessions(app, session):
    owner = make_user(session, "owner")
    laptop, phone = browser(app), browser(app)
    laptop.sign_in(owner)
    phone.sign_in(owner)
    laptop.get("/console/password")
    changed = laptop.post(
        "/console/password",
        {"current": PASSWORD, "new": "a new long secret", "confirm": "a new long secret"},
    )
    assert changed.status_code == 200 and "密码已修改" in changed.text
    assert phone.get("/console", follow_redirects=False).status_code == 303
    assert laptop.get("/console", follow_redirects=False).status_code == 200
    assert browser(app).sign_in(owner, "a new long secret").status_code == 303


def test_a_short_new_password_is_refused(app, session):
    owner = make_user(session, "owner")
    b = browser(app)
    b.sign_in(owner)
    b.get("/console/password")
    answer = b.post("/console/password", {"current": PASSWORD, "new": "short", "confirm": "short"})
    assert answer.status_code == 422 and "密码太短" in answer.text


def test_the_next_page_must_be_on_this_site(app, session):
    owner = make_user(session, "owner")
    b = browser(app)
    b.get("/console/login")
    answer = b.post(
        "/console/login",
        {"username": owner, "password": PASSWORD, "next": "//evil.example/steal"},
    )
    assert answer.headers["location"] == "/console"


def test_english_is_one_click_away(app, session):
    owner = make_user(session, "owner")
    b = browser(app)
    b.sign_in(owner)
    b.client.get("/lang/en?next=/console")
    page = b.get("/console")
    assert "Dashboard" in page.text and "数据概览" not in page.text
    assert 'lang="en"' in page.text


def test_sign_in_attempts_from_one_address_are_rate_limited(app, session):
    b = browser(app)
    answers = [b.sign_in(f"guess{i}", "whatever1").status_code for i in range(11)]
    assert answers[:10] == [401] * 10 and answers[10] == 429


def test_pages_carry_security_headers(app, session):
    page = browser(app).get("/console/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_expired_sessions_and_spent_codes_are_pruned(app, api, db, session):
    """The ``prune-sign-ins`` job deletes what can no longer sign anyone in, and only that."""
    from loyalty.jobs.registry import JOBS
    from loyalty.members.models import MemberLoginCode, MemberSession
    from loyalty.users.models import ConsoleSession
    from tests.test_member_page import member_with, signed_in

    owner = browser(app)
    owner.sign_in(make_user(session, "owner"))
    member_with(api, 0)
    phone = signed_in(app)
    prune, _ = JOBS["prune-sign-ins"]

    def left() -> list[int]:
        session.expire_all()
        tables = (ConsoleSession, MemberSession, MemberLoginCode)
        return [len(session.scalars(select(t)).all()) for t in tables]

    assert left() == [1, 1, 1]
    assert prune(db, START + timedelta(hours=1), START, None).rows == 0
    assert owner.get("/console").status_code == 200
    assert prune(db, START + timedelta(days=2), START, None).rows == 2  # 12 h; code of a day
    assert left() == [0, 1, 0]
    assert phone.get("/m").status_code == 200
    assert prune(db, START + timedelta(days=31), START, None).rows == 1  # 30 days
    assert left() == [0, 0, 0]
