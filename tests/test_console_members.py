"""The console's member pages: find a member, see everything about them, adjust their points
with a reason, merge two accounts of one person, export the lists."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from loyalty.members.models import Member
from loyalty.users.models import AuditEntry
from tests.conftest import START, assert_balanced
from tests.web import Browser, browser, make_user


def _chain(api: Any) -> dict[str, Any]:
    """Two stores; 王小明 registered at 静安店 with a card, 李四 at 北京店."""
    api.store("SH001", name="上海静安店")
    api.store("BJ001", name="北京国贸店")
    wang = api.member(
        "13800001111",
        name="王小明",
        store_code="SH001",
        identifiers=[{"type": "card", "value": "C-8801"}],
    )
    li = api.member("13900002222", name="李四", store_code="BJ001")
    api.order(wang["id"], 100000, START - timedelta(days=3), store_code="SH001")
    api.order(li["id"], 30000, START - timedelta(days=2), store_code="BJ001")
    return {"wang": wang, "li": li}


def _signed_in(app: Any, session: Any, role: str, stores: list[str] | None = None) -> Browser:
    b = browser(app)
    b.sign_in(make_user(session, role, stores))
    b.get("/console/members")
    return b


def _audit(session: Any, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _available(session: Any, member_id: int) -> int:
    session.expire_all()
    return session.scalar(select(Member.points_available).where(Member.id == member_id))


# --- finding members ---------------------------------------------------------------------------


def test_an_operator_finds_a_member_by_phone_card_member_number_or_name(app, api, session):
    people = _chain(api)
    b = _signed_in(app, session, "owner")
    for typed in ("138 0000 1111", "+8613800001111", "C-8801", people["wang"]["member_no"], "王小"):
        page = b.get("/console/members", params={"q": typed})
        assert page.status_code == 200
        assert "王小明" in page.text and "李四" not in page.text, typed
    assert "13800001111" in page.text  # an owner sees the full phone
    nobody = b.get("/console/members", params={"q": "13712345678"})
    assert "没有找到会员" in nobody.text


def test_results_refresh_as_the_operator_types(app, api, session):
    _chain(api)
    b = _signed_in(app, session, "hq")
    live = b.client.get(
        "/console/members",
        params={"q": "李"},
        headers={"HX-Request": "true", "HX-Target": "member-results"},
    )
    assert live.status_code == 200 and "<html" not in live.text
    assert "李四" in live.text and "王小明" not in live.text
    whole = b.get("/console/members")
    assert "<html" in whole.text and "王小明" in whole.text and "李四" in whole.text


def test_the_list_pages_fifty_members_at_a_time(app, api, session):
    api.store("SH001")
    for i in range(52):
        api.member(name=f"会员{i:02d}", store_code="SH001")
    b = _signed_in(app, session, "owner")
    first = b.get("/console/members")
    assert "会员51" in first.text and "会员01" not in first.text
    cursor = first.text.split("cursor=")[1].split('"')[0]
    second = b.get(f"/console/members?cursor={cursor}")
    assert "会员01" in second.text and "会员00" in second.text and "会员51" not in second.text


def test_a_clerk_sees_only_the_members_of_their_own_store(app, api, session):
    people = _chain(api)
    b = _signed_in(app, session, "clerk", ["SH001"])
    listing = b.get("/console/members")
    assert "王小明" in listing.text and "李四" not in listing.text
    assert "138****1111" in listing.text and "13800001111" not in listing.text  # masked
    typed = b.get("/console/members", params={"q": "13800001111"})
    assert "13800001111" in typed.text  # the clerk typed it: shown in full
    assert "李四" not in b.get("/console/members", params={"q": "13900002222"}).text
    assert "李四" not in b.get("/console/members", params={"q": "李"}).text
    other = people["li"]["id"]
    assert b.get(f"/console/members/{other}").status_code == 403
    assert b.get(f"/console/members/{other}/ledger?format=csv").status_code == 403
    export = b.get("/console/members?format=csv").content.decode("utf-8-sig")
    assert "王小明" in export and "李四" not in export
    assert b.get(f"/console/members/{people['wang']['id']}").status_code == 200


# --- one member --------------------------------------------------------------------------------


def test_the_member_page_shows_balance_expiry_tier_history_redemptions_and_identifiers(
    app, api, session
):
    people = _chain(api)
    wang = people["wang"]["id"]
    tier = {"name": "银卡", "name_en": "Silver", "rank": 1, "threshold": 150000, "window_days": 365}
    assert api.client.put("/v1/tiers/silver", json=tier, headers=api.headers).status_code < 300
    reward = api.ok(
        "/v1/rewards",
        {"name": "中杯奶茶", "points_price": 300, "stock": 5, "fulfilment": "pickup"},
        201,
    )
    api.ok(
        "/v1/redemptions",
        {
            "redemption_id": "RD-1",
            "member_id": wang,
            "reward_id": reward["id"],
            "store_code": "SH001",
        },
        201,
    )
    page = _signed_in(app, session, "manager", ["SH001"]).get(f"/console/members/{wang}")
    assert page.status_code == 200
    text = page.text
    assert "王小明" in text and "可用积分" in text and ">700<" in text  # 1,000 earned - 300
    assert "再消费 ¥500.00 升级银卡" in text
    assert "积分到期" in text and "C-8801" in text and "会员卡号" in text
    assert "中杯奶茶" in text and "待自提" in text
    assert "积分明细" in text and "<td>获得</td>" in text and "<td>兑换</td>" in text
    assert "上海静安店" in text and "¥1,000.00" in text  # the registration store, the order


def test_more_history_arrives_below_the_first_page(app, api, session):
    api.store("SH001")
    member = api.member(name="常客", store_code="SH001")
    for day in range(25):
        api.order(member["id"], 1000 + day, START - timedelta(days=30 - day), store_code="SH001")
    b = _signed_in(app, session, "owner")
    page = b.get(f"/console/members/{member['id']}")
    before = page.text.split("ledger?before=")[1].split('"')[0]
    more = b.client.get(
        f"/console/members/{member['id']}/ledger?before={before}", headers={"HX-Request": "true"}
    )
    assert more.status_code == 200 and "<html" not in more.text
    assert more.text.count("<tr>") == 5 and "ledger?before=" not in more.text


# --- adjusting points --------------------------------------------------------------------------


def test_a_store_manager_adjusts_points_with_a_reason_and_it_is_audited(app, api, session):
    people = _chain(api)
    wang = people["wang"]["id"]
    b = _signed_in(app, session, "manager", ["SH001"])
    form = b.get(f"/console/members/{wang}/adjust")
    assert form.status_code == 200 and "调整积分" in form.text
    done = b.post(f"/console/members/{wang}/adjust", {"points": "200", "reason": "门店活动补发"})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=adjusted")
    assert _available(session, wang) == 1200
    taken = b.post(f"/console/members/{wang}/adjust", {"points": "-50", "reason": "重复发放冲正"})
    assert taken.status_code == 303
    assert _available(session, wang) == 1150
    assert_balanced(session)
    entries = _audit(session, "points.adjust")
    assert [(e.target_id, e.details["points"], e.details["reason"]) for e in entries] == [
        (str(wang), 200, "门店活动补发"),
        (str(wang), -50, "重复发放冲正"),
    ]
    page = b.get(f"/console/members/{wang}?done=adjusted")
    assert "人工调整: 门店活动补发" in page.text and "积分已调整" in page.text


def test_an_adjustment_can_set_its_own_expiry_date(app, api, session):
    people = _chain(api)
    wang = people["wang"]["id"]
    b = _signed_in(app, session, "hq")
    done = b.post(
        f"/console/members/{wang}/adjust",
        {"points": "30", "reason": "生日礼", "expires_on": "2026-04-30"},
    )
    assert done.status_code == 303
    points = api.points(wang)
    assert {"points": 30, "expires_at": "2026-04-30T16:00:00+00:00"} in points["expiring"]
    assert_balanced(session)


def test_bad_adjustments_are_explained_and_change_nothing(app, api, session):
    people = _chain(api)
    wang = people["wang"]["id"]
    b = _signed_in(app, session, "owner")
    cases = [
        ({"points": "0", "reason": "x"}, 422, "积分不能为 0"),
        ({"points": "abc", "reason": "x"}, 422, "请输入整数积分"),
        ({"points": "1.5", "reason": "x"}, 422, "请输入整数积分"),
        ({"points": "100", "reason": "   "}, 422, "请填写调整原因"),
        ({"points": "100", "reason": "长" * 201}, 422, "原因太长"),
        ({"points": "100", "reason": "x", "expires_on": "明天"}, 422, "YYYY-MM-DD"),
        ({"points": "100", "reason": "x", "expires_on": "2026-01-01"}, 422, "有效期"),
        ({"points": "-5", "reason": "x", "expires_on": "2026-12-01"}, 422, "只有增加的积分"),
        ({"points": "-5000", "reason": "扣多了"}, 409, "积分不足：可扣减 1,000"),
    ]
    for form, status, message in cases:
        answer = b.post(f"/console/members/{wang}/adjust", form)
        assert answer.status_code == status, (form, answer.text[-500:])
        assert message in answer.text, form
        assert 'value="' + form["points"] + '"' in answer.text  # the form keeps what was typed
    assert _available(session, wang) == 1000
    assert _audit(session, "points.adjust") == []
    assert_balanced(session)


def test_who_may_adjust_points(app, api, session):
    people = _chain(api)
    wang, li = people["wang"]["id"], people["li"]["id"]
    analyst = _signed_in(app, session, "analyst")
    assert analyst.get(f"/console/members/{wang}").status_code == 200  # may look
    assert analyst.get(f"/console/members/{wang}/adjust").status_code == 403
    refused = analyst.post(f"/console/members/{wang}/adjust", {"points": "5", "reason": "x"})
    assert refused.status_code == 403
    clerk = _signed_in(app, session, "clerk", ["SH001"])
    assert (
        clerk.post(f"/console/members/{wang}/adjust", {"points": "5", "reason": "x"}).status_code
        == 403
    )
    manager = _signed_in(app, session, "manager", ["SH001"])
    assert (
        manager.post(f"/console/members/{li}/adjust", {"points": "5", "reason": "x"}).status_code
        == 403
    )
    manager.csrf = "forged"
    assert (
        manager.post(f"/console/members/{wang}/adjust", {"points": "5", "reason": "x"}).status_code
        == 403
    )
    assert _available(session, wang) == 1000 and _available(session, li) == 300
    assert _audit(session, "points.adjust") == []


# --- merging two accounts ----------------------------------------------------------------------


def test_an_operator_previews_then_merges_two_accounts_of_one_person(app, api, session):
    people = _chain(api)
    wang, li = people["wang"], people["li"]
    b = _signed_in(app, session, "owner")
    preview = b.get(f"/console/members/{wang['id']}/merge", params={"source": "139 0000 2222"})
    assert preview.status_code == 200
    text = preview.text
    assert "合并后" in text and li["member_no"] in text
    assert ">1,300<" in text  # 1,000 + 300 available after the merge
    assert ">2<" in text  # orders
    assert _available(session, li["id"]) == 300  # a preview changes nothing
    merged = b.post(f"/console/members/{wang['id']}/merge", {"source_id": str(li["id"])})
    assert merged.status_code == 303 and merged.headers["location"].endswith("?done=merged")
    assert _available(session, wang["id"]) == 1300
    source = session.get(Member, li["id"])
    assert (source.status, source.merged_into_id) == ("merged", wang["id"])
    assert_balanced(session)
    audit = _audit(session, "member.merge")
    assert [(a.target_id, a.details["source_member_id"]) for a in audit] == [
        (str(wang["id"]), li["id"])
    ]
    found = b.get("/console/members", params={"q": li["member_no"]})  # the old card still works
    assert "王小明" in found.text and "按会员号匹配" in found.text
    page = b.get(f"/console/members/{wang['id']}?done=merged")
    assert "13900002222" in page.text and "合并转入" in page.text


def test_a_merge_into_itself_or_of_a_merged_account_is_refused(app, api, session):
    people = _chain(api)
    wang, li = people["wang"], people["li"]
    b = _signed_in(app, session, "hq")
    itself = b.get(f"/console/members/{wang['id']}/merge", params={"source": wang["member_no"]})
    assert itself.status_code == 422 and "不能与自己合并" in itself.text
    refused = b.post(f"/console/members/{wang['id']}/merge", {"source_id": str(wang["id"])})
    assert refused.status_code == 422
    assert "这两个会员无法合并：会员不能与自己合并" in refused.text
    assert (
        b.post(f"/console/members/{wang['id']}/merge", {"source_id": str(li["id"])}).status_code
        == 303
    )
    again = b.post(f"/console/members/{wang['id']}/merge", {"source_id": str(li["id"])})
    assert again.status_code == 422
    assert "这两个会员无法合并：会员 " + li["member_no"] + " 已被合并" in again.text
    old = b.get(f"/console/members/{wang['id']}/merge", params={"source_id": li["id"]})
    assert "已被合并" in old.text
    closed = b.post(f"/console/members/{li['id']}/adjust", {"points": "5", "reason": "补发"})
    assert closed.status_code == 409 and "会员状态不可用" in closed.text
    assert _available(session, wang["id"]) == 1300  # nothing reached the survivor either
    assert len(_audit(session, "member.merge")) == 1
    assert _audit(session, "points.adjust") == []
    assert_balanced(session)


def test_only_hq_roles_merge(app, api, session):
    people = _chain(api)
    manager = _signed_in(app, session, "manager", ["SH001", "BJ001"])
    path = f"/console/members/{people['wang']['id']}/merge"
    assert manager.get(path).status_code == 403
    assert manager.post(path, {"source_id": str(people["li"]["id"])}).status_code == 403


# --- exports -----------------------------------------------------------------------------------


def test_the_member_list_exports_as_csv_and_excel(app, api, session):
    _chain(api)
    b = _signed_in(app, session, "owner")
    csv = b.get("/console/members?format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith("\ufeff".encode())
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("会员号,姓名,手机号")
    assert "王小明" in text and "李四" in text and "上海静安店" in text
    filtered = b.get("/console/members?format=csv&q=王").content.decode("utf-8-sig")
    assert "王小明" in filtered and "李四" not in filtered
    xlsx = b.get("/console/members?format=xlsx")
    assert xlsx.status_code == 200
    assert "王小明" in _xlsx_text(xlsx.content)
    assert b.get("/console/members?format=pdf").status_code == 422


def test_a_members_history_exports_with_its_explanations(app, api, session):
    people = _chain(api)
    b = _signed_in(app, session, "owner")
    wang = people["wang"]["id"]
    b.post(f"/console/members/{wang}/adjust", {"points": "20", "reason": "补偿"})
    csv = b.get(f"/console/members/{wang}/ledger?format=csv")
    assert csv.content.startswith("\ufeff".encode())
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("时间,类型,积分,说明")
    assert "人工调整: 补偿" in lines[1] and ",20," in lines[1]
    assert "获得" in lines[2] and ",1000," in lines[2]
    xlsx = b.get(f"/console/members/{wang}/ledger?format=xlsx")
    assert "人工调整: 补偿" in _xlsx_text(xlsx.content)


def test_the_pages_switch_to_english(app, api, session):
    people = _chain(api)
    tier = {"name": "银卡", "name_en": "Silver", "rank": 1, "threshold": 150000, "window_days": 365}
    assert api.client.put("/v1/tiers/silver", json=tier, headers=api.headers).status_code < 300
    b = _signed_in(app, session, "owner")
    b.get("/lang/en")
    page = b.get(f"/console/members/{people['wang']['id']}")
    assert "Available points" in page.text and "Points history" in page.text
    assert "Spend ¥500.00 more to reach Silver" in page.text


def _xlsx_text(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        return "".join(
            book.read(name).decode() for name in book.namelist() if name.startswith("xl/")
        )
