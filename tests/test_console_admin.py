"""Administration pages: stores, API keys, console users, program settings and the audit log."""

from __future__ import annotations

import io
import zipfile
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.apikeys import service as apikeys_service
from loyalty.apikeys.models import ApiKey
from loyalty.config import get_settings
from loyalty.stores.models import Store
from loyalty.users.models import AuditEntry, ConsoleUser
from tests.web import PASSWORD, Browser, browser, make_user

ROLES = ("owner", "hq", "analyst", "manager", "clerk")


def signed_in(app: Any, session: Session, role: str, stores: list[str] | None = None) -> Browser:
    """A browser signed in as a new user of ``role`` (store-bound roles work at SH001)."""
    bound = role in ("manager", "clerk")
    username = make_user(session, role, stores or (["SH001"] if bound else None))
    b = browser(app)
    assert b.sign_in(username).status_code == 303
    b.get("/console/password")  # any page: picks up the session's CSRF token
    return b


def audit(session: Session, action: str) -> list[AuditEntry]:
    session.expire_all()
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(session.scalars(query))


def user_id(session: Session, username: str) -> int:
    session.expire_all()
    found = session.scalar(select(ConsoleUser.id).where(ConsoleUser.username == username))
    assert found is not None
    return found


@pytest.fixture
def chain(api: Any) -> Any:
    """Two stores of the chain: SH001 in Shanghai and BJ001 in Beijing."""
    api.store("SH001", name="上海南京路店", region="华东", groups=["flagship"])
    api.store("BJ001", name="北京王府井店", region="华北")
    return api


# every admin page and action, and the roles that may use it (the others get 403)
GETS = [
    ("/console/stores", {"owner", "hq", "analyst", "manager"}),
    ("/console/stores/new", {"owner", "hq"}),
    ("/console/stores/SH001", {"owner", "hq", "analyst", "manager"}),
    ("/console/apikeys", {"owner"}),
    ("/console/users", {"owner"}),
    ("/console/users/new", {"owner"}),
    ("/console/settings", {"owner", "hq", "analyst"}),
    ("/console/audit", {"owner"}),
    ("/console/audit?format=csv", {"owner"}),
    ("/console/stores?format=xlsx", {"owner", "hq", "analyst", "manager"}),
]
POSTS = [
    ("/console/stores", {"owner", "hq"}, {"name": "新店", "channel": "store"}),
    ("/console/stores/SH001", {"owner", "hq"}, {"name": "上海南京路店", "channel": "store"}),
    ("/console/stores/BJ001/deactivate", {"owner", "hq"}, {}),
    ("/console/apikeys", {"owner"}, {"name": "收银台", "role": "readonly"}),
    ("/console/users", {"owner"}, {"role": "analyst", "password": "long enough pw"}),
    ("/console/settings", {"owner"}, None),
]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_the_admin_pages_it_may(app, session, chain, role):
    b = signed_in(app, session, role)
    for path, allowed in GETS:
        expected = 200 if role in allowed else 403
        assert b.get(path).status_code == expected, (role, path)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_make_exactly_the_admin_changes_it_may(app, session, chain, role):
    b = signed_in(app, session, role)
    settings_form = settings_of(signed_in(app, session, "owner"))
    for path, allowed, form in POSTS:
        data = dict(settings_form if form is None else form)
        data.setdefault("code", f"N{role}")
        data.setdefault("username", f"new-{role}")
        data.setdefault("confirm", data.get("password", ""))
        status = b.post(path, data).status_code
        assert status in ((201, 303) if role in allowed else (403,)), (role, path, status)


def test_a_clerk_sees_no_admin_page_and_no_admin_menu(app, session, chain):
    b = signed_in(app, session, "clerk")
    page = b.get("/console/password")
    for path in ("/console/stores", "/console/apikeys", "/console/users", "/console/audit"):
        assert f'href="{path}"' not in page.text
    assert b.get("/console/settings").status_code == 403


def test_admin_forms_need_their_csrf_token(app, session, chain):
    b = signed_in(app, session, "owner")
    b.csrf = "forged"
    form = {"code": "X1", "name": "x", "channel": "store"}
    assert b.post("/console/stores", form).status_code == 403
    assert session.scalar(select(Store).where(Store.code == "X1")) is None


# --- stores -------------------------------------------------------------------------------


def test_hq_opens_a_store_and_it_is_audited(app, session, chain):
    b = signed_in(app, session, "hq")
    form = {"code": "GZ001", "name": "广州天河店", "channel": "store", "region": "华南"}
    answer = b.post("/console/stores", {**form, "groups": "south, flagship"})
    assert answer.status_code == 303
    page = b.get(answer.headers["location"])
    assert "门店已创建" in page.text and "广州天河店" in page.text and "华南" in page.text
    store = session.scalar(select(Store).where(Store.code == "GZ001"))
    assert store is not None and store.groups == ["south", "flagship"] and store.active
    entry = audit(session, "store.save")[-1]
    assert entry.target_id == "GZ001" and entry.details["name"] == "广州天河店"
    assert chain.get("/v1/stores/GZ001").json()["region"] == "华南"


def test_the_store_list_counts_members_registered_there(app, session, chain):
    chain.member(store_code="SH001")
    chain.member(store_code="SH001")
    b = signed_in(app, session, "analyst")
    rows = csv_rows(b.get("/console/stores?format=csv"))
    assert rows[0] == ["门店编码", "名称", "渠道", "区域", "门店分组", "正常", "注册会员数"]
    by_code = {r[0]: r for r in rows[1:]}
    assert by_code["SH001"][-1] == "2" and by_code["BJ001"][-1] == "0"


def test_a_store_manager_sees_only_their_own_store(app, session, chain):
    b = signed_in(app, session, "manager", ["SH001"])
    page = b.get("/console/stores")
    assert "上海南京路店" in page.text and "北京王府井店" not in page.text
    assert "BJ001" not in b.get("/console/stores?format=csv").text
    assert b.get("/console/stores/BJ001").status_code == 403
    assert 'name="name"' in b.get("/console/stores/SH001").text  # shown, but read-only
    assert "<fieldset disabled" in b.get("/console/stores/SH001").text


def test_editing_a_store_keeps_its_code_and_logs_what_changed(app, session, chain):
    b = signed_in(app, session, "owner")
    form = {"name": "上海南京东路店", "channel": "store", "region": "华东", "groups": "flagship"}
    assert b.post("/console/stores/SH001", form).status_code == 303
    assert chain.get("/v1/stores/SH001").json()["name"] == "上海南京东路店"
    changes = audit(session, "store.save")[-1].details["changes"]
    assert changes == {"name": ["上海南京路店", "上海南京东路店"]}


def test_a_bad_store_form_says_what_is_wrong_and_changes_nothing(app, session, chain):
    b = signed_in(app, session, "owner")
    bad = b.post("/console/stores", {"code": "上海 1", "name": "", "channel": "store"})
    assert bad.status_code == 422
    assert "只能使用字母、数字" in bad.text and "必填" in bad.text
    taken = b.post("/console/stores", {"code": "SH001", "name": "重复", "channel": "store"})
    assert taken.status_code == 409 and "门店编码已存在" in taken.text
    channel = b.post("/console/stores", {"code": "SH009", "name": "x", "channel": "moon"})
    assert channel.status_code == 422 and "请从选项中选择" in channel.text
    session.expire_all()
    assert session.scalar(select(Store).where(Store.code == "SH009")) is None
    assert audit(session, "store.save") == []


def test_deactivating_a_store_marks_it_and_can_be_undone(app, session, chain):
    b = signed_in(app, session, "hq")
    assert b.post("/console/stores/BJ001/deactivate").status_code == 303
    assert "已停用" in b.get("/console/stores").text
    assert chain.get("/v1/stores/BJ001").json()["active"] is False
    assert b.post("/console/stores/BJ001/activate").status_code == 303
    assert chain.get("/v1/stores/BJ001").json()["active"] is True
    assert [e.action for e in audit(session, "store.deactivate")] == ["store.deactivate"]


# --- API keys -----------------------------------------------------------------------------


def create_key(b: Browser, **form: str) -> tuple[str, Any]:
    answer = b.post("/console/apikeys", form)
    assert answer.status_code == 201, answer.text
    token = answer.text.split('id="token" value="')[1].split('"')[0]
    return token, answer


def test_a_new_key_is_shown_once_works_and_is_refused_once_revoked(
    app, session, chain, monkeypatch
):
    b = signed_in(app, session, "owner")
    token, shown = create_key(b, name="上海收银台 1", role="pos", store="SH001")
    assert token.startswith("lk_") and "不再显示" in shown.text
    till = {"Authorization": f"Bearer {token}"}
    assert b.client.get("/v1/stores/SH001", headers=till).status_code == 200
    listing = b.get("/console/apikeys").text
    assert "上海收银台 1" in listing and token not in listing  # the list never shows it
    key = session.scalar(select(ApiKey).where(ApiKey.name == "上海收银台 1"))
    assert key is not None and key.prefix in listing
    created = audit(session, "apikey.create")[-1]
    assert token not in str(created.details) and created.details["prefix"] == key.prefix

    confirm = b.get(f"/console/apikeys/{key.id}/revoke")
    assert confirm.status_code == 200 and "5 秒" in confirm.text  # the cache is explained
    assert b.post(f"/console/apikeys/{key.id}/revoke").status_code == 303
    # this process forgets the key at once; another API process within the cache time
    assert b.client.get("/v1/stores/SH001", headers=till).status_code == 401
    later = apikeys_service.time.monotonic() + get_settings().api_key_cache_seconds + 1
    monkeypatch.setattr(apikeys_service.time, "monotonic", lambda: later)
    assert b.client.get("/v1/stores/SH001", headers=till).status_code == 401
    assert token not in str(audit(session, "apikey.revoke")[-1].details)
    assert "吊销" in b.get("/console/apikeys").text


def test_a_key_another_api_process_cached_is_refused_after_the_cache_time(
    app, session, chain, monkeypatch
):
    b = signed_in(app, session, "owner")
    token, _ = create_key(b, name="线上商城", role="admin")
    till = {"Authorization": f"Bearer {token}"}
    assert b.client.get("/v1/program", headers=till).status_code == 200
    remembered = dict(apikeys_service._cache)  # what another process would still hold
    key = session.scalar(select(ApiKey).where(ApiKey.name == "线上商城"))
    assert b.post(f"/console/apikeys/{key.id}/revoke").status_code == 303
    apikeys_service._cache.update(remembered)
    assert b.client.get("/v1/program", headers=till).status_code == 200  # still cached
    later = apikeys_service.time.monotonic() + get_settings().api_key_cache_seconds + 0.1
    monkeypatch.setattr(apikeys_service.time, "monotonic", lambda: later)
    assert b.client.get("/v1/program", headers=till).status_code == 401


def test_a_pos_key_needs_a_store_and_only_pos_keys_have_one(app, session, chain):
    b = signed_in(app, session, "owner")
    no_store = b.post("/console/apikeys", {"name": "收银台", "role": "pos"})
    assert no_store.status_code == 422 and "请选择门店" in no_store.text
    admin = b.post("/console/apikeys", {"name": "管理", "role": "admin", "store": "SH001"})
    assert admin.status_code == 422 and "只有 POS 密钥可以绑定门店" in admin.text
    unnamed = b.post("/console/apikeys", {"name": " ", "role": "readonly"})
    assert unnamed.status_code == 422 and "必填" in unnamed.text
    assert session.scalar(select(ApiKey).where(ApiKey.name.in_(["收银台", "管理"]))) is None


# --- console users ------------------------------------------------------------------------


def test_the_owner_creates_a_clerk_for_a_store_who_can_sign_in(app, session, chain):
    b = signed_in(app, session, "owner")
    form = {
        "username": "xiaoliu",
        "display_name": "小刘",
        "role": "clerk",
        "stores": ["SH001"],
        "password": "a long password",
        "confirm": "a long password",
    }
    assert b.post("/console/users", form).status_code == 303
    listing = b.get("/console/users")
    assert "xiaoliu" in listing.text and "店员" in listing.text and "SH001" in listing.text
    clerk = browser(app)
    assert clerk.sign_in("xiaoliu", "a long password").status_code == 303
    assert clerk.get("/console/stores").status_code == 403
    entry = audit(session, "user.create")[-1]
    assert entry.details == {"username": "xiaoliu", "role": "clerk", "stores": ["SH001"]}


def test_a_store_bound_user_needs_a_store_and_bad_input_is_explained(app, session, chain):
    b = signed_in(app, session, "owner")
    base = {"username": "chen", "role": "manager", "password": "long password", "confirm": "x"}
    answer = b.post("/console/users", base)
    assert answer.status_code == 422
    assert "该角色至少需要选择一家门店" in answer.text and "两次输入的密码不一致" in answer.text
    short = b.post("/console/users", {**base, "stores": ["SH001"], "password": "short"})
    assert short.status_code == 422 and "至少 8 个字符" in short.text
    taken = make_user(session, "hq")
    dup = {**base, "username": taken, "stores": ["SH001"], "confirm": "long password"}
    assert b.post("/console/users", dup).status_code == 409
    assert "用户名已存在" in b.post("/console/users", dup).text
    session.expire_all()
    assert session.scalar(select(ConsoleUser).where(ConsoleUser.username == "chen")) is None


def test_changing_a_role_applies_at_the_next_click_and_is_audited(app, session, chain):
    owner = signed_in(app, session, "owner")
    analyst_name = make_user(session, "analyst")
    analyst = browser(app)
    analyst.sign_in(analyst_name)
    assert analyst.get("/console/settings").status_code == 200
    target = user_id(session, analyst_name)
    form = {"display_name": "赵店长", "role": "manager", "stores": ["BJ001"]}
    assert owner.post(f"/console/users/{target}", form).status_code == 303
    assert analyst.get("/console/settings").status_code == 403
    assert analyst.get("/console/stores/BJ001").status_code == 200
    assert analyst.get("/console/stores/SH001").status_code == 403
    changes = audit(session, "user.save")[-1].details["changes"]
    assert changes["role"] == ["analyst", "manager"] and changes["stores"] == [[], ["BJ001"]]


def test_resetting_a_password_ends_the_users_sessions(app, session, chain):
    owner = signed_in(app, session, "owner")
    hq_name = make_user(session, "hq")
    hq = browser(app)
    hq.sign_in(hq_name)
    assert hq.get("/console", follow_redirects=False).status_code == 200
    target = user_id(session, hq_name)
    new = {"password": "brand new secret", "confirm": "brand new secret"}
    assert owner.post(f"/console/users/{target}/password", new).status_code == 303
    assert hq.get("/console", follow_redirects=False).status_code == 303  # signed out
    assert browser(app).sign_in(hq_name, PASSWORD).status_code == 401
    assert browser(app).sign_in(hq_name, "brand new secret").status_code == 303
    assert audit(session, "user.reset_password")[-1].target_id == str(target)
    assert "brand new secret" not in str(audit(session, "user.reset_password")[-1].details)


def test_an_owner_unlocks_a_locked_out_clerk(app, session, chain):
    owner = signed_in(app, session, "owner")
    clerk = make_user(session, "clerk", ["SH001"])
    for _ in range(5):
        browser(app).sign_in(clerk, "wrong password")
    assert browser(app).sign_in(clerk).status_code == 401
    assert "已锁定" in owner.get("/console/users").text
    assert owner.post(f"/console/users/{user_id(session, clerk)}/unlock").status_code == 303
    assert browser(app).sign_in(clerk).status_code == 303
    assert len(audit(session, "user.unlock")) == 1


def test_disabling_a_user_signs_them_out_and_keeps_them_out(app, session, chain):
    owner = signed_in(app, session, "owner")
    manager_name = make_user(session, "manager", ["SH001"])
    manager = browser(app)
    manager.sign_in(manager_name)
    target = user_id(session, manager_name)
    assert owner.post(f"/console/users/{target}/disable").status_code == 303
    assert manager.get("/console/stores", follow_redirects=False).status_code == 303
    assert browser(app).sign_in(manager_name).status_code == 401
    assert "已停用" in owner.get("/console/users").text
    assert owner.post(f"/console/users/{target}/enable").status_code == 303
    assert browser(app).sign_in(manager_name).status_code == 303


def test_the_last_owner_can_be_neither_demoted_nor_disabled(app, session, chain):
    owner_name = make_user(session, "owner")
    b = browser(app)
    b.sign_in(owner_name)
    b.get("/console/users")
    me = user_id(session, owner_name)
    others = session.scalars(
        select(ConsoleUser).where(ConsoleUser.role == "owner", ConsoleUser.id != me)
    ).all()
    assert others == []
    demote = b.post(f"/console/users/{me}", {"display_name": "王总", "role": "hq"})
    assert demote.status_code == 409 and "至少需要保留一位可用的所有者" in demote.text
    assert b.post(f"/console/users/{me}/disable").status_code == 409
    session.expire_all()
    assert session.get(ConsoleUser, me).role == "owner"
    # with a second owner, the first may step down
    second = make_user(session, "owner")
    assert b.post(f"/console/users/{me}", {"display_name": "王总", "role": "hq"}).status_code == 303
    other = browser(app)
    other.sign_in(second)
    other.get("/console/users")
    assert other.post(f"/console/users/{user_id(session, second)}/disable").status_code == 409


def test_an_owner_resets_their_own_password_on_the_password_page(app, session, chain):
    owner_name = make_user(session, "owner")
    b = browser(app)
    b.sign_in(owner_name)
    me = user_id(session, owner_name)
    assert "修改自己的密码" in b.get(f"/console/users/{me}").text
    new = {"password": "brand new secret", "confirm": "brand new secret"}
    assert b.post(f"/console/users/{me}/password", new).status_code == 422


# --- settings -----------------------------------------------------------------------------


def settings_of(b: Browser) -> dict[str, str]:
    """The settings form as the page fills it in."""
    import re

    page = b.get("/console/settings").text
    values = dict(re.findall(r'name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    for name in ("rounding", "expiry_policy", "tier_downgrade"):
        block = page.split(f'name="{name}"')[1].split("</select>")[0]
        values[name] = re.search(r'value="([a-z_]+)" selected', block).group(1)
    values.pop("csrf_token", None)
    return values


def test_a_settings_change_takes_effect_and_logs_before_and_after(app, session, chain):
    b = signed_in(app, session, "owner")
    form = settings_of(b)
    assert form["point_value"] == "0.01" and form["earn_per_yuan"] == "1"
    form.update(pending_days="7", timezone="Asia/Hong_Kong", point_value="0.005")
    form.update(earn_per_yuan="2", excluded_categories="烟草, gift_card")
    assert b.post("/console/settings", form).status_code == 303
    program = chain.get("/v1/program").json()
    assert program["pending_days"] == 7 and program["timezone"] == "Asia/Hong_Kong"
    assert program["point_value"] == "0.005000" and program["earn_per_amount"] == 200
    assert program["excluded_categories"] == ["烟草", "gift_card"]
    changes = audit(session, "settings.save")[-1].details["changes"]
    assert changes["pending_days"] == [0, 7]
    assert changes["point_value"] == ["0.01", "0.005"]
    assert changes["earn_per_amount"] == [100, 200]
    assert "expiry_days" not in changes  # only what changed
    log = b.get("/console/audit?action=settings").text
    assert "冻结天数: 0 → 7" in log and "修改设置" in log
    # saving the same form again changes nothing and logs nothing
    assert b.post("/console/settings", settings_of(b)).headers["location"].endswith("same")
    assert len(audit(session, "settings.save")) == 1


def test_the_settings_change_applies_to_new_orders(app, session, chain, clock):
    b = signed_in(app, session, "owner")
    assert b.post("/console/settings", {**settings_of(b), "earn_points": "3"}).status_code == 303
    member = chain.member()
    order = chain.order(member["id"], 10_000, clock.now(), store_code="SH001")
    assert order["points"]["awarded"] == 300


def test_bad_settings_are_explained_and_nothing_is_saved(app, session, chain):
    b = signed_in(app, session, "owner")
    form = settings_of(b)
    bad = {**form, "timezone": "Mars/Olympus", "pending_days": "-1", "earn_per_yuan": "0.001"}
    answer = b.post("/console/settings", {**bad, "expiry_days": "", "rounding": "sideways"})
    assert answer.status_code == 422
    assert "未知时区" in answer.text and "必填" in answer.text
    answer = b.post("/console/settings", {**form, "pending_days": "-1", "earn_per_yuan": "0.001"})
    assert "不能小于 0" in answer.text and "请输入金额（元）" in answer.text
    assert 'value="-1"' in answer.text  # the form keeps what was typed
    assert chain.get("/v1/program").json()["pending_days"] == 0
    assert audit(session, "settings.save") == []


def test_hq_and_analysts_read_the_settings_but_cannot_save(app, session, chain):
    for role in ("hq", "analyst"):
        b = signed_in(app, session, role)
        page = b.get("/console/settings")
        assert page.status_code == 200 and "只有所有者可以修改" in page.text
        assert "<fieldset disabled" in page.text and "保存设置" not in page.text


# --- audit log ----------------------------------------------------------------------------


def test_the_audit_log_filters_by_user_action_target_and_date(app, session, chain, clock):
    hq_name = make_user(session, "hq")
    hq = browser(app)
    hq.sign_in(hq_name)
    hq.get("/console/stores")
    hq.post("/console/stores", {"code": "GZ001", "name": "广州店", "channel": "store"})
    clock.advance(days=3)
    owner = signed_in(app, session, "owner")
    owner.post("/console/stores/GZ001/deactivate")
    every = rows_of(owner.get("/console/audit"))
    assert every.index("停用门店") < every.index("保存门店")  # newest first
    by_hq = rows_of(owner.get(f"/console/audit?user={hq_name}"))
    assert "保存门店" in by_hq and "停用门店" not in by_hq
    stores = rows_of(owner.get("/console/audit?action=store"))
    assert "保存门店" in stores and "停用门店" in stores and "user.sign_in" not in stores
    target = rows_of(owner.get("/console/audit?target=store:GZ001"))
    assert "保存门店" in target and "user.sign_in" not in target
    day = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    today = rows_of(owner.get(f"/console/audit?from={day}&to={day}&action=store"))
    assert "停用门店" in today and "保存门店" not in today
    assert "格式不对的日期已忽略" in owner.get("/console/audit?from=yesterday").text


def test_the_audit_log_pages_and_exports(app, session, chain):
    owner = signed_in(app, session, "owner")
    for i in range(55):
        owner.post("/console/stores", {"code": f"T{i:03d}", "name": f"门店{i}", "channel": "store"})
    first = owner.get("/console/audit?action=store.save")
    assert "T054" in first.text and "T004" not in first.text and "更早的记录" in first.text
    older = first.text.split('href="/console/audit?action=store.save&amp;before=')[1].split('"')[0]
    second = owner.get(f"/console/audit?action=store.save&before={older}")
    assert "T004" in second.text and "T054" not in second.text
    rows = csv_rows(owner.get("/console/audit?format=csv&action=store.save"))
    assert rows[0][:3] == ["时间", "用户", "操作"] and len(rows) == 56
    assert "门店编码: T054" in rows[1][4]
    book = zipfile.ZipFile(io.BytesIO(owner.get("/console/audit?format=xlsx").content))
    assert book.read("xl/worksheets/sheet1.xml").count(b"<row ") >= 56


def test_every_admin_table_exports(app, session, chain):
    b = signed_in(app, session, "owner")
    create_key(b, name="导出测试", role="readonly")
    users = csv_rows(b.get("/console/users?format=csv"))
    assert users[0][0] == "用户名" and len(users) >= 2
    keys = csv_rows(b.get("/console/apikeys?format=csv"))
    assert any(r[0] == "导出测试" for r in keys[1:])
    xlsx = b.get("/console/users?format=xlsx")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxml")
    assert b.get("/console/users?format=pdf").status_code == 422


def rows_of(page: Any) -> str:
    """The table body of a list page (not its filters)."""
    assert page.status_code == 200, page.text
    return str(page.text.split("<tbody>")[1].split("</tbody>")[0])


def csv_rows(answer: Any) -> list[list[str]]:
    import csv

    assert answer.status_code == 200, answer.text
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
