"""Build the things tests need, through the API a till or an operator would use."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from loyalty.apikeys.service import create_key
from loyalty.db.base import utcnow

_ids = itertools.count(1)


def key_for(session: Session, role: str = "admin", store: str | None = None) -> str:
    _, token = create_key(session, 1, f"{role}-{next(_ids)}", role, store, utcnow())
    session.commit()
    return token


@dataclass
class Api:
    """A client with a key, plus the words a till uses."""

    client: TestClient
    token: str
    orders: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.client.post(
            path, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw
        )

    def ok(self, path: str, json: Any = None, status: int | None = None) -> dict[str, Any]:
        r = self.post(path, json)
        assert r.status_code == (status or r.status_code) and r.status_code < 300, r.text
        return r.json()

    def store(self, code: str = "SH001", **kw: Any) -> dict[str, Any]:
        body = {"code": code, "name": kw.pop("name", f"门店 {code}"), "channel": "store", **kw}
        return self.ok("/v1/stores", body, 201)

    def member(self, phone: str | None = None, **kw: Any) -> dict[str, Any]:
        body = {"phone": phone or f"139{next(_ids):08d}", **kw}
        return self.ok("/v1/members", body, 201)

    def order(self, member_id: int, amount: int, at: datetime, **kw: Any) -> dict[str, Any]:
        body = self.order_body(member_id, amount, at, **kw)
        return self.ok("/v1/orders", body, 201)

    def order_body(self, member_id: int, amount: int, at: datetime, **kw: Any) -> dict[str, Any]:
        return {
            "order_id": kw.pop("order_id", f"ORD-{next(self.orders)}"),
            "member_id": member_id,
            "amount": amount,
            "occurred_at": at.isoformat(),
            **kw,
        }

    def points(self, member_id: int) -> dict[str, Any]:
        r = self.get(f"/v1/members/{member_id}/points")
        assert r.status_code == 200, r.text
        return r.json()

    def refund(self, order_id: str, refund_id: str, amount: int) -> httpx.Response:
        return self.post(
            f"/v1/orders/{order_id}/refunds", {"refund_id": refund_id, "amount": amount}
        )

    def hold(self, member_id: int, points: int, ref: str = "PAY-1") -> httpx.Response:
        return self.post(
            "/v1/points/holds", {"member_id": member_id, "points": points, "reference": ref}
        )
