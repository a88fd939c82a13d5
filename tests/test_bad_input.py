"""Bad input gets a clear problem+json error and changes nothing."""

import httpx
import pytest

from tests.conftest import START, assert_balanced


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": -1}, "body.amount"),
        ({"amount": "100"}, "body.amount"),
        ({"amount": 1.5}, "body.amount"),
        ({"amount": 10**15}, "body.amount"),
        ({"member_id": 0}, "body.member_id"),
        ({"member_id": "x"}, "body.member_id"),
        ({"occurred_at": "yesterday"}, "body.occurred_at"),
        ({"occurred_at": "2026-03-04T10:00:00"}, "body.occurred_at"),  # no offset
        ({"occurred_at": "1899-01-01T00:00:00+08:00"}, "body.occurred_at"),
        ({"order_id": ""}, "body.order_id"),
        ({"order_id": "x" * 65}, "body.order_id"),
        ({"order_id": "has space"}, "body.order_id"),
        ({"channel": "fax"}, "body.channel"),
        ({"lines": [{"sku": "A", "amount": -5}]}, "body.lines.0.amount"),
        ({"lines": "not a list"}, "body.lines"),
    ],
)
def test_invalid_order_fields_are_422_with_the_field_path(api, session, change, field):
    member = api.member()
    body = {**api.order_body(member["id"], 1_000, START), **change}
    r = api.post("/v1/orders", body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert field in [e["field"] for e in problem["errors"]]
    assert r.headers["content-type"] == "application/problem+json"
    assert api.points(member["id"])["available"] == 0
    assert_balanced(session)


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b'"text"', b"\xff\xfe", b""])
def test_malformed_bodies_are_4xx_not_500(api, raw):
    r = api.client.post(
        "/v1/orders", content=raw, headers={**api.headers, "content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500, (raw, r.status_code, r.text)
    assert r.json()["code"]


def test_oversized_bodies_are_refused_before_reading(api):
    big = b'{"orders": [' + b"0," * 5_000_000 + b"0]}"
    r = api.client.post(
        "/v1/orders/batch", content=big, headers={**api.headers, "content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large", r.text


def test_oversized_chunked_bodies_are_refused_too(live_api):
    """No length given (chunked, over real HTTP): the body is counted as it arrives."""
    url, token = live_api

    def chunks():
        yield b'{"orders": ['
        for _ in range(100):
            yield b"0," * 50_000
        yield b"0]}"

    r = httpx.post(
        f"{url}/v1/orders/batch",
        content=chunks(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large", r.text


def test_unknown_paths_and_methods_are_problems(api):
    r = api.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = api.client.delete("/v1/orders", headers=api.headers)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_absurd_path_ids_are_422(api):
    assert api.get("/v1/members/0").status_code == 422
    assert api.get(f"/v1/members/{10**30}").status_code == 422
    assert api.get("/v1/members/abc/points").status_code == 422


def test_a_failure_mid_request_leaves_nothing_half_written(api, app, session, monkeypatch):
    """A crash after the entry is written but before the order row: all rolled back."""
    import loyalty.orders.service as orders

    member = api.member()

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(orders, "_insert_orders", crash)
    r = api.post("/v1/orders", api.order_body(member["id"], 9_900, START, order_id="CRASH"))
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    monkeypatch.undo()
    assert api.points(member["id"])["available"] == 0
    assert api.get(f"/v1/members/{member['id']}/ledger").json()["items"] == []
    assert_balanced(session)
    retry = api.post("/v1/orders", api.order_body(member["id"], 9_900, START, order_id="CRASH"))
    assert retry.status_code == 201 and retry.json()["points"]["awarded"] == 99


def test_control_characters_in_text_are_refused(api):
    r = api.post("/v1/stores", {"code": "X1", "name": "bad\u0000name", "channel": "store"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.name"
    assert api.get("/v1/stores/bad%00code").status_code == 422
