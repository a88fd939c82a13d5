"""The console's dashboard: HQ sees the chain's points, members, tiers and busiest stores for
a period; a store manager sees only their own store; a clerk goes to the counter instead."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from loyalty.analytics.rollups import run_rollups
from loyalty.ledger.jobs import expire_lots
from tests.conftest import START, assert_balanced
from tests.factories import Api, key_for
from tests.web import browser, make_user


def a_month_at_two_stores(api: Api, db, session) -> None:
    """SH001 issues 1,200 points and takes 80 at its till; SH002 issues 300; 500 points
    issued a year ago expire."""
    api.store("SH001", name="静安店"), api.store("SH002", name="徐汇店")
    till = Api(api.client, key_for(session, "pos", "SH001"))
    a = api.member(store_code="SH001")["id"]
    b = api.member(store_code="SH002")["id"]
    api.order(a, 50_000, START - timedelta(days=400), store_code="SH001", order_id="OLD")
    api.order(a, 120_000, START - timedelta(days=3), store_code="SH001", order_id="A1")
    api.order(b, 30_000, START - timedelta(days=1), store_code="SH002", order_id="B1")
    expire_lots(db.transaction, START, START)
    hold = till.hold(a, 80).json()
    assert till.post(f"/v1/points/holds/{hold['id']}/capture").status_code == 200
    assert_balanced(session)


def signed_in(app, session, role: str = "owner", stores: list[str] | None = None):
    page = browser(app)
    assert page.sign_in(make_user(session, role, stores)).status_code == 303
    return page


def test_hq_sees_the_chains_points_in_chinese(app, api, db, session):
    a_month_at_two_stores(api, db, session)
    run_rollups(db, START)
    page = signed_in(app, session, "hq").get("/console")
    assert page.status_code == 200
    text = page.text
    assert "数据概览" in text and "发放积分" in text and "积分负债" in text
    assert "1,500" in text  # issued in the last 30 days: 1,200 + 300
    assert "80" in text and "兑换率" in text
    assert "¥14.20" in text  # outstanding 1,420 points at ¥0.01
    assert "静安店" in text and "徐汇店" in text
    assert 'data-chart="dash-points"' in text and 'id="dash-tiers"' in text


def test_figures_are_exact_before_the_rollups_job_has_run(app, api, db, session):
    a_month_at_two_stores(api, db, session)
    page = signed_in(app, session).get("/console")
    assert "1,500" in page.text and "¥14.20" in page.text
    assert "日汇总尚未生成" in page.text


def test_a_longer_period_includes_the_expired_points(app, api, db, session):
    a_month_at_two_stores(api, db, session)
    run_rollups(db, START)
    page = signed_in(app, session).get(
        "/console", params={"from": "2025-01-01", "to": "2026-03-04"}
    )
    assert page.status_code == 200
    assert "2,000" in page.text and "500" in page.text  # issued 2,000 of which 500 expired
    assert "25.0%" in page.text  # breakage


def test_a_store_manager_sees_only_their_store(app, api, db, session):
    a_month_at_two_stores(api, db, session)
    run_rollups(db, START)
    manager = signed_in(app, session, "manager", ["SH001"])
    page = manager.get("/console")
    assert page.status_code == 200
    assert "1,200" in page.text and "静安店" in page.text
    assert "徐汇店" not in page.text and "1,500" not in page.text
    assert "仅统计全部门店" in page.text  # no chain-wide liability for a store
    other = manager.get("/console", params={"store": "SH002"})
    assert other.status_code == 403 and "徐汇店" not in other.text
    export = manager.get("/console", params={"format": "csv"})
    assert "SH002" not in export.text and "SH001" in export.text


def test_clerks_have_no_dashboard(app, api, session):
    api.store("SH001")
    clerk = signed_in(app, session, "clerk", ["SH001"])
    page = clerk.client.get("/console", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/console/counter"


def test_nobody_signed_in_is_sent_to_sign_in(app):
    page = browser(app).client.get("/console", follow_redirects=False)
    assert page.status_code == 303 and "/console/login" in page.headers["location"]


def test_hq_filters_by_store_and_period(app, api, db, session):
    a_month_at_two_stores(api, db, session)
    run_rollups(db, START)
    hq = signed_in(app, session, "hq")
    page = hq.get("/console", params={"store": "SH002", "from": "2026-03-01", "to": "2026-03-04"})
    assert page.status_code == 200 and "300" in page.text and "门店 SH002" in page.text
    assert "1,200" not in page.text
    assert hq.get("/console", params={"store": "NOPE"}).status_code == 403


def test_bad_dates_say_why_and_show_the_last_30_days(app, api, session):
    hq = signed_in(app, session, "hq")
    bad = hq.get("/console", params={"from": "2026-13-01"})
    assert bad.status_code == 422 and "日期格式应为" in bad.text and "最近 30 天" in bad.text
    backwards = hq.get("/console", params={"from": "2026-03-04", "to": "2026-03-01"})
    assert backwards.status_code == 422 and "开始日期不能晚于结束日期" in backwards.text
    too_long = hq.get("/console", params={"from": "2020-01-01", "to": "2026-03-01"})
    assert too_long.status_code == 422 and "最长两年" in too_long.text


def test_top_stores_export_as_csv_and_excel(app, api, db, session):
    a_month_at_two_stores(api, db, session)
    run_rollups(db, START)
    analyst = signed_in(app, session, "analyst")
    export = analyst.get("/console", params={"format": "csv"})
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["门店编码", "门店", "发放积分"]
    assert rows[1][:4] == ["SH001", "静安店", "1200", "80"]
    assert rows[2][:3] == ["SH002", "徐汇店", "300"]
    xlsx = analyst.get("/console", params={"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_the_filter_form_refreshes_only_the_figures_with_htmx(app, api, db, session):
    a_month_at_two_stores(api, db, session)
    hq = signed_in(app, session, "hq")
    part = hq.client.get("/console", params={"store": "SH001"}, headers={"HX-Request": "true"})
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<div id="board"') and "<html" not in part.text
    assert "1,200" in part.text


def test_a_new_program_shows_how_to_get_started(app, session):
    page = signed_in(app, session).get("/console")
    assert page.status_code == 200 and "还没有积分数据" in page.text
    assert "loyalty demo" in page.text and "data-chart" not in page.text


def test_english_is_one_click_away(app, api, db, session):
    a_month_at_two_stores(api, db, session)
    owner = signed_in(app, session)
    owner.client.get("/lang/en")
    page = owner.get("/console")
    assert "Points issued" in page.text and "Breakage rate" in page.text
