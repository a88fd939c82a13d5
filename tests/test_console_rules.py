"""The console's earning rules and tiers, in the words of an operator at HQ."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.rules.models import Rule
from loyalty.tiers.models import Tier
from loyalty.users.models import AuditEntry
from tests.conftest import START, assert_balanced
from tests.web import Browser, browser, make_user

THURSDAY = START + timedelta(days=1)
WEDNESDAY_DOUBLE: dict[str, Any] = {
    "name": "周三双倍积分",
    "name_en": "Wednesday double points",
    "kind": "multiplier",
    "factor": "2",
    "weekdays": ["3"],
    "stacking": "multiply",
    "priority": "100",
    "status": "enabled",
}


def operator(
    app: Any, session: Session, role: str = "hq", stores: list[str] | None = None
) -> Browser:
    b = browser(app)
    b.sign_in(make_user(session, role, stores))
    return b


def create(b: Browser, form: dict[str, Any] | None = None) -> int:
    b.get("/console/rules/new")
    r = b.post("/console/rules/new", form or WEDNESDAY_DOUBLE)
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/console/rules/(\d+)\?saved=1", r.headers["location"])
    assert match, r.headers["location"]
    return int(match.group(1))


def audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def value(page: httpx.Response, element_id: str, attr: str = "data-value") -> int:
    match = re.search(rf'id="{element_id}"[^>]*{attr}="(-?\d+)"', page.text)
    assert match, f"{element_id} not in page"
    return int(match.group(1))


# --- creating, checking, editing ---------------------------------------------------------------


def test_an_operator_creates_wednesday_double_points_and_wednesday_orders_earn_double(
    app, session, api
):
    b = operator(app, session)
    form = b.get("/console/rules/new")
    assert form.status_code == 200
    assert "新建积分规则" in form.text and 'for="rule-name"' in form.text
    rule_id = create(b)
    page = b.get(f"/console/rules/{rule_id}?saved=1")
    assert "已保存为第 1 版" in page.text
    assert "每周三 全部门店 积分 ×2" in page.text
    assert 'data-chart="backtest-chart"' not in page.text  # the back-test loads by itself
    assert 'hx-trigger="submit, load"' in page.text
    member = api.member()
    assert api.order(member["id"], 6_000, START)["points"]["awarded"] == 120
    assert api.order(member["id"], 6_000, THURSDAY)["points"]["awarded"] == 60
    assert_balanced(session)
    [entry] = audit(session, "rule.create")
    assert (entry.target_type, entry.target_id) == ("rule", str(rule_id))
    listing = b.get("/console/rules")
    assert "周三双倍积分" in listing.text and "每周三 全部门店" in listing.text


def test_the_form_checks_the_rule_as_it_is_typed(app, session):
    b = operator(app, session)
    b.get("/console/rules/new")
    ok = b.htmx("/console/rules/check", WEDNESDAY_DOUBLE)
    assert ok.status_code == 200
    assert "每周三 全部门店 积分 ×2" in ok.text and "可以保存" in ok.text
    assert 'id="error-factor" hx-swap-oob="true"></small>' in ok.text
    bad = b.htmx("/console/rules/check", {**WEDNESDAY_DOUBLE, "factor": "0.5"})
    assert bad.status_code == 422
    assert re.search(r'id="error-factor" hx-swap-oob="true">倍数须大于 1', bad.text)
    words = b.htmx(
        "/console/rules/check",
        {
            **WEDNESDAY_DOUBLE,
            "kind": "bonus",
            "points": "50",
            "weekdays": ["6", "7"],
            "min_yuan": "88",
            "cap_per_order": "500",
            "time_from": "10:00",
            "time_to": "14:00",
        },
    )
    assert "每周六、周日 10:00–14:00 全部门店 单笔满 ¥88 每单额外赠送 50 积分 每单最多 500 分" in (
        words.text
    )


def test_an_impossible_rule_gets_clear_messages_and_nothing_is_saved(app, session):
    b = operator(app, session)
    b.get("/console/rules/new")
    impossible = {
        **WEDNESDAY_DOUBLE,
        "name": "",
        "factor": "0.5",
        "date_from": "2026-03-31",
        "date_to": "2026-03-01",
        "budget": "很多",
    }
    r = b.post("/console/rules/new", impossible)
    assert r.status_code == 422
    assert "规则未保存" in r.text
    for message in ("请填写规则名称", "倍数须大于 1", "请输入"):
        assert message in r.text
    assert 'value="2026-03-31"' in r.text  # what was typed is kept
    fragment = b.htmx("/console/rules/check", impossible)
    assert fragment.status_code == 422 and "开始日期晚于结束日期" in fragment.text
    assert session.scalar(select(func.count()).select_from(Rule)) == 0
    assert audit(session, "rule.create") == []


def test_editing_makes_version_2_and_points_already_earned_keep_version_1(app, session, api):
    b = operator(app, session)
    rule_id = create(b)
    member = api.member()
    api.order(member["id"], 1_000, START, order_id="V1")
    b.get(f"/console/rules/{rule_id}")
    changed = {**WEDNESDAY_DOUBLE, "factor": "3", "cap_per_order": "", "version": "1"}
    r = b.post(f"/console/rules/{rule_id}", changed)
    assert r.status_code == 303, r.text
    api.order(member["id"], 1_000, START, order_id="V2")
    entries = {
        e["source"]["id"]: e for e in api.get(f"/v1/members/{member['id']}/ledger").json()["items"]
    }
    assert entries["V1"]["breakdown"][1]["rule_version"] == 1
    assert entries["V2"]["breakdown"][1]["rule_version"] == 2
    assert (entries["V1"]["points"], entries["V2"]["points"]) == (20, 30)
    page = b.get(f"/console/rules/{rule_id}")
    assert "v2" in page.text and "v1" in page.text and "积分 ×3" in page.text
    stale = b.post(f"/console/rules/{rule_id}", {**changed, "factor": "4"})
    assert stale.status_code == 409
    assert session.get(Rule, rule_id).version == 2  # type: ignore[union-attr]
    [entry] = audit(session, "rule.update")
    assert entry.target_id == str(rule_id)
    assert_balanced(session)


def test_a_cleared_cap_is_cleared_in_the_new_version(app, session, api):
    b = operator(app, session)
    rule_id = create(b, {**WEDNESDAY_DOUBLE, "cap_per_order": "5"})
    member = api.member()
    assert api.order(member["id"], 1_000, START)["points"]["awarded"] == 15
    b.get(f"/console/rules/{rule_id}")
    b.post(f"/console/rules/{rule_id}", {**WEDNESDAY_DOUBLE, "cap_per_order": ""})
    assert api.order(member["id"], 1_000, START)["points"]["awarded"] == 20


def test_switching_a_rule_off_and_on_from_the_list(app, session, api):
    b = operator(app, session)
    rule_id = create(b)
    b.get("/console/rules")
    off = b.htmx(f"/console/rules/{rule_id}/disable")
    assert off.status_code == 200
    assert off.text.lstrip().startswith(f'<tr id="rule-row-{rule_id}"') and "停用" in off.text
    member = api.member()
    assert api.order(member["id"], 1_000, START)["points"]["awarded"] == 10
    on = b.htmx(f"/console/rules/{rule_id}/enable")
    assert on.status_code == 200 and "启用" in on.text
    assert api.order(member["id"], 1_000, START)["points"]["awarded"] == 20
    assert [e.details["status"] for e in audit(session, "rule.disable")] == ["disabled"]
    assert len(audit(session, "rule.enable")) == 1


# --- trying a rule -----------------------------------------------------------------------------


def test_a_sample_order_shows_each_award_and_they_add_up(app, session, api):
    api.store("SH001")
    r = api.client.put(
        "/v1/tiers/gold",
        json={
            "name": "金卡",
            "rank": 1,
            "threshold": 100_000,
            "window_days": 365,
            "multiplier": "1.5",
        },
        headers=api.headers,
    )
    assert r.status_code == 200, r.text
    b = operator(app, session)
    b.get("/console/rules/new")
    sample = {
        "sim_store": "SH001",
        "sim_amount": "60",
        "sim_at": "2026-03-04T12:00",
        "sim_tier": "gold",
    }
    answer = b.htmx("/console/rules/simulate", {**WEDNESDAY_DOUBLE, **sample})
    assert answer.status_code == 200, answer.text
    points = [int(p) for p in re.findall(r'<tr class="[^"]*" data-points="(\d+)"', answer.text)]
    assert points == [60, 60, 60]  # base, Wednesday ×2, gold ×1.5 on the doubled points
    assert value(answer, "simulation-total", "data-total") == sum(points) == 180
    assert value(answer, "simulation-extra", "data-extra") == 90  # 60 doubled, 30 of gold's
    assert "周三双倍积分 ×2: +60" in answer.text and "本规则" in answer.text
    thursday = b.htmx(
        "/console/rules/simulate", {**WEDNESDAY_DOUBLE, **sample, "sim_at": "2026-03-05T12:00"}
    )
    assert value(thursday, "simulation-extra", "data-extra") == 0
    bad = b.htmx("/console/rules/simulate", {**WEDNESDAY_DOUBLE, **sample, "sim_amount": "abc"})
    assert bad.status_code == 422 and "请输入以元为单位的金额" in bad.text


def test_the_back_test_gives_the_same_numbers_as_the_api(app, session, api):
    api.store("SH001")
    api.store("SH002")
    member, other = api.member(), api.member()
    for days, who, amount, store in (
        (7, member, 8_000, "SH001"),
        (7, other, 3_000, "SH002"),
        (6, member, 5_000, "SH001"),
        (14, other, 12_000, "SH001"),
        (35, member, 9_900, "SH002"),
    ):
        api.order(who["id"], amount, START - timedelta(days=days), store_code=store)
    b = operator(app, session)
    rule_id = create(b, {**WEDNESDAY_DOUBLE, "status": "disabled"})
    b.get(f"/console/rules/{rule_id}")
    for period in ("last30", "last_month"):
        page = b.htmx("/console/rules/backtest", {"rule_id": str(rule_id), "period": period})
        assert page.status_code == 200, page.text
        span = re.search(r'data-from="([^"]+)" data-to="([^"]+)"', page.text)
        assert span
        expected = api.ok(
            f"/v1/rules/{rule_id}/backtest", {"from": span.group(1), "to": span.group(2)}
        )
        assert value(page, "backtest-points") == expected["extra_points"]
        assert value(page, "backtest-cost") == expected["cost_amount"]
        assert value(page, "backtest-members") == expected["members_affected"]
        assert value(page, "backtest-orders") == expected["orders_affected"]
    last30 = b.htmx("/console/rules/backtest", {"rule_id": str(rule_id), "period": "last30"})
    assert value(last30, "backtest-points") == 80 + 30 + 120
    assert 'data-chart="backtest-chart" id="backtest"' in last30.text
    assert 'data-store="SH001" data-points="200"' in last30.text
    month = b.htmx("/console/rules/backtest", {"rule_id": str(rule_id), "period": "last_month"})
    assert 'data-from="2026-01-31T16:00:00+00:00"' in month.text
    draft = b.htmx(
        "/console/rules/backtest", {**WEDNESDAY_DOUBLE, "factor": "3", "period": "last30"}
    )
    assert value(draft, "backtest-points") == 2 * (80 + 30 + 120)


def test_a_draft_that_is_not_a_rule_cannot_be_tried(app, session):
    b = operator(app, session)
    b.get("/console/rules/new")
    r = b.htmx("/console/rules/backtest", {**WEDNESDAY_DOUBLE, "factor": "1", "period": "last30"})
    assert r.status_code == 422 and "请先改正规则" in r.text


# --- who may do what ---------------------------------------------------------------------------


def test_an_analyst_may_look_and_try_but_not_change(app, session):
    rule_id = create(operator(app, session))
    b = operator(app, session, "analyst")
    page = b.get(f"/console/rules/{rule_id}")
    assert page.status_code == 200 and 'id="rule-save"' not in page.text
    assert '<fieldset class="rule-fields" disabled>' in page.text
    assert 'id="new-rule"' not in b.get("/console/rules").text
    assert b.get("/console/rules/new").status_code == 403
    assert b.post("/console/rules/new", WEDNESDAY_DOUBLE).status_code == 403
    assert b.post(f"/console/rules/{rule_id}", WEDNESDAY_DOUBLE).status_code == 403
    assert b.htmx(f"/console/rules/{rule_id}/disable").status_code == 403
    assert b.htmx("/console/rules/backtest", {"rule_id": str(rule_id)}).status_code == 200
    assert session.get(Rule, rule_id).version == 1  # type: ignore[union-attr]


def test_store_staff_do_not_see_rules(app, session, api):
    api.store("SH001")
    b = operator(app, session, "manager", ["SH001"])
    assert b.get("/console/rules").status_code == 403
    assert b.get("/console/tiers").status_code == 403


def test_a_form_without_its_token_changes_nothing(app, session):
    b = operator(app, session)
    b.get("/console/rules/new")
    b.csrf = "forged"
    assert b.post("/console/rules/new", WEDNESDAY_DOUBLE).status_code == 403
    assert session.scalar(select(func.count()).select_from(Rule)) == 0


def test_the_rules_list_downloads_as_csv_and_excel(app, session):
    b = operator(app, session)
    create(b)
    rows = list(csv.reader(io.StringIO(b.get("/console/rules?format=csv").text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["编号", "名称", "类型"]
    assert rows[1][1] == "周三双倍积分" and "每周三" in rows[1][3] and rows[1][-3] == "已启用"
    xlsx = b.get("/console/rules?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


# --- tiers -------------------------------------------------------------------------------------

SILVER = {
    "code": "silver",
    "name": "银卡",
    "name_en": "Silver",
    "rank": "1",
    "metric": "spend",
    "threshold": "1000",
    "window_days": "365",
    "multiplier": "1.2",
    "discount_rate": "0.95",
    "perks": "生日饮品\n免配送费",
}


def test_an_operator_adds_a_tier_and_members_reach_it(app, session, api):
    b = operator(app, session)
    b.get("/console/tiers/new")
    r = b.post("/console/tiers/new", SILVER)
    assert r.status_code == 303 and r.headers["location"] == "/console/tiers/silver?saved=1"
    tier = session.scalar(select(Tier).where(Tier.code == "silver"))
    assert tier is not None and tier.threshold == 100_000 and tier.perks == ["生日饮品", "免配送费"]
    member = api.member()
    api.order(member["id"], 100_000, START)
    page = b.get("/console/tiers")
    assert "银卡" in page.text and "¥1,000" in page.text and "×1.2" in page.text
    assert "9.5折" in page.text and "生日饮品、免配送费" in page.text
    assert re.search(r'id="tier-silver".*?<td class="num">1 ', page.text, re.S)
    assert "/console/settings" in page.text and "降级" in page.text
    [entry] = audit(session, "tier.save")
    assert (entry.target_type, entry.target_id) == ("tier", "silver")


def test_a_tier_is_edited_and_bad_input_changes_nothing(app, session):
    b = operator(app, session)
    b.get("/console/tiers/new")
    b.post("/console/tiers/new", SILVER)
    form = b.get("/console/tiers/silver")
    assert 'value="1000"' in form.text and 'value="1.2"' in form.text
    r = b.post("/console/tiers/silver", {**SILVER, "multiplier": "1.3", "threshold": "800"})
    assert r.status_code == 303
    tier = session.scalar(select(Tier).where(Tier.code == "silver"))
    assert tier is not None and (tier.multiplier, tier.threshold) == ("1.3", 80_000)
    bad = b.post("/console/tiers/silver", {**SILVER, "multiplier": "20", "window_days": "0"})
    assert bad.status_code == 422
    assert "请输入 1 到 10 之间的倍数" in bad.text and "请输入 1 到 3650 之间的天数" in bad.text
    again = b.post("/console/tiers/new", {**SILVER, "rank": "2"})
    assert again.status_code == 409 and "等级编码已存在" in again.text
    clash = b.post("/console/tiers/new", {**SILVER, "code": "gold", "name": "金卡"})
    assert clash.status_code == 422 and "不能与其他等级重复" in clash.text
    session.refresh(tier)
    assert tier.multiplier == "1.3"
    assert len(audit(session, "tier.save")) == 2


def test_the_tier_form_is_checked_as_the_operator_types(app, session):
    b = operator(app, session)
    form = b.get("/console/tiers/new")
    assert 'hx-post="/console/tiers/check"' in form.text
    bad = b.htmx("/console/tiers/check", {**SILVER, "multiplier": "20", "window_days": "0"})
    assert bad.status_code == 422
    assert "请输入 1 到 10 之间的倍数" in bad.text and "请输入 1 到 3650 之间的天数" in bad.text
    good = b.htmx("/console/tiers/check", SILVER)
    assert good.status_code == 200 and "可以保存" in good.text
    assert session.scalar(select(Tier).where(Tier.code == "silver")) is None  # nothing saved


def test_an_analyst_sees_tiers_but_cannot_change_them(app, session):
    b = operator(app, session, "analyst")
    assert b.get("/console/tiers").status_code == 200
    assert b.get("/console/tiers/new").status_code == 403
    assert b.post("/console/tiers/new", SILVER).status_code == 403
    assert session.scalar(select(func.count()).select_from(Tier)) == 0


def test_an_operator_deletes_a_tier_nobody_holds_after_confirming(app, session):
    b = operator(app, session)
    b.get("/console/tiers/new")
    b.post("/console/tiers/new", SILVER)
    form = b.get("/console/tiers/silver")
    assert 'action="/console/tiers/silver/delete"' in form.text and "data-confirm" in form.text
    assert "确定删除等级“银卡”吗" in form.text
    r = b.post("/console/tiers/silver/delete")
    assert r.status_code == 303 and r.headers["location"] == "/console/tiers?deleted=silver"
    assert session.scalar(select(Tier).where(Tier.code == "silver")) is None
    page = b.get(r.headers["location"])
    assert "等级 silver 已删除" in page.text and 'id="tier-silver"' not in page.text
    [entry] = audit(session, "tier.delete")
    assert (entry.target_type, entry.target_id) == ("tier", "silver")


def test_a_tier_members_hold_or_a_rule_names_is_not_deleted_and_the_page_says_why(
    app, session, api
):
    b = operator(app, session)
    b.get("/console/tiers/new")
    b.post("/console/tiers/new", SILVER)
    api.order(api.member()["id"], 100_000, START)
    b.get("/console/tiers/silver")
    held = b.post("/console/tiers/silver/delete")
    assert held.status_code == 409
    assert "等级未删除" in held.text and "有 1 位会员处于该等级" in held.text

    b.get("/console/tiers/new")
    b.post("/console/tiers/new", {**SILVER, "code": "gold", "name": "金卡", "rank": "2"})
    api.ok(
        "/v1/rules",
        {"name": "金卡加赠", "kind": "bonus", "points": 50, "conditions": {"tiers": ["gold"]}},
        201,
    )
    b.get("/console/tiers/gold")
    named = b.post("/console/tiers/gold/delete")
    assert named.status_code == 409 and "金卡加赠" in named.text
    assert session.scalar(select(func.count()).select_from(Tier)) == 2
    assert audit(session, "tier.delete") == []


def test_an_analyst_cannot_delete_a_tier_nor_sees_the_button(app, session):
    hq = operator(app, session)
    hq.get("/console/tiers/new")
    hq.post("/console/tiers/new", SILVER)
    b = operator(app, session, "analyst")
    assert "tier-delete-button" not in b.get("/console/tiers/silver").text
    assert b.post("/console/tiers/silver/delete").status_code == 403
    assert session.scalar(select(Tier).where(Tier.code == "silver")) is not None


def test_a_tier_delete_without_the_csrf_token_is_refused(app, session):
    b = operator(app, session)
    b.get("/console/tiers/new")
    b.post("/console/tiers/new", SILVER)
    b.csrf = "forged"
    assert b.post("/console/tiers/silver/delete").status_code == 403
    assert session.scalar(select(Tier).where(Tier.code == "silver")) is not None
