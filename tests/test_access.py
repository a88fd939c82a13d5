"""API keys and roles: who may do what."""

from tests.conftest import START
from tests.factories import key_for


def test_missing_or_wrong_key_is_401(api):
    assert api.client.get("/v1/stores").status_code == 401
    r = api.client.get("/v1/stores", headers={"Authorization": "Bearer lk_nope_nope"})
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"


def test_keys_are_stored_hashed(api, session):
    from sqlalchemy import select

    from loyalty.apikeys.models import ApiKey

    stored = session.scalars(select(ApiKey.key_hash)).all()
    assert api.token not in stored and all(len(h) == 64 for h in stored)


def test_readonly_key_reads_but_cannot_write(api, session):
    member = api.member()
    reader = {"Authorization": f"Bearer {key_for(session, 'readonly')}"}
    assert api.client.get(f"/v1/members/{member['id']}/points", headers=reader).status_code == 200
    r = api.client.post("/v1/orders", json=api.order_body(member["id"], 100, START), headers=reader)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_a_till_key_posts_orders_only_for_its_own_store(api, session):
    api.store("SH001")
    api.store("BJ001")
    member = api.member()
    till = {"Authorization": f"Bearer {key_for(session, 'pos', 'SH001')}"}
    own = api.client.post(
        "/v1/orders", json=api.order_body(member["id"], 1_000, START), headers=till
    )
    assert own.status_code == 201  # the store defaults to the till's
    other = api.client.post(
        "/v1/orders",
        json=api.order_body(member["id"], 1_000, START, store_code="BJ001"),
        headers=till,
    )
    assert other.status_code == 403
    assert api.client.get(f"/v1/members/{member['id']}", headers=till).status_code == 200
    adjust = api.client.post(
        "/v1/points/adjustments",
        headers=till,
        json={"member_id": member["id"], "points": 5, "reason": "x"},
    )
    assert adjust.status_code == 403
    api.order(member["id"], 1_000, START, order_id="BJ-ORDER", store_code="BJ001")
    refund = api.client.post(
        "/v1/orders/BJ-ORDER/refunds", headers=till, json={"refund_id": "R", "amount": 1_000}
    )
    assert refund.status_code == 403


def test_revoked_key_is_refused(api, session):
    from loyalty.apikeys.service import _cache, revoke_key
    from loyalty.db.base import utcnow

    token = key_for(session, "readonly")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/v1/stores", headers=headers).status_code == 200
    from sqlalchemy import select

    from loyalty.apikeys.models import ApiKey

    key_id = session.scalar(select(ApiKey.id).order_by(ApiKey.id.desc()))
    revoke_key(session, 1, key_id, utcnow())
    session.commit()
    _cache.clear()
    assert api.client.get("/v1/stores", headers=headers).status_code == 401
