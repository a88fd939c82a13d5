"""Drive the console and the member page like a browser: cookies, forms and CSRF tokens."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from loyalty.db.base import utcnow
from loyalty.users.service import create_user

PASSWORD = "correct horse battery"
_names = itertools.count(1)
_CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')


def make_user(
    session: Session, role: str = "owner", stores: list[str] | None = None, name: str = ""
) -> str:
    """A console user with ``PASSWORD``; returns the user name."""
    username = name or f"{role}{next(_names)}"
    create_user(session, 1, username, PASSWORD, role, utcnow(), None, stores or [])
    session.commit()
    return username


def csrf_of(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match, "page has no CSRF token"
    return match.group(1)


@dataclass
class Browser:
    """A test client that keeps cookies and sends each form with the page's CSRF token."""

    client: TestClient
    csrf: str = ""

    def get(self, path: str, **kw: Any) -> httpx.Response:
        page = self.client.get(path, **kw)
        if "text/html" in page.headers.get("content-type", "") and 'name="csrf-token"' in page.text:
            self.csrf = csrf_of(page)
        return page

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(path, data=form, follow_redirects=False, **kw)

    def htmx(self, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"HX-Request": "true", "X-CSRF-Token": self.csrf}
        return self.client.post(path, data=data or {}, headers=headers)

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/console/login")
        return self.post("/console/login", {"username": username, "password": password})


def browser(app: Any) -> Browser:
    return Browser(TestClient(app, raise_server_exceptions=False))
