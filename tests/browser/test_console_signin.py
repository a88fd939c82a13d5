"""The sign-in page in a real browser: Chinese first, English a click away, accessible."""

from __future__ import annotations

import pytest

from tests.browser.conftest import LAPTOP, PHONE
from tests.browser.pages import axe_violations, blocking, console_sign_in, new_page

pytestmark = pytest.mark.browser  # run once, on SQLite (scripts/dev)


def test_an_operator_signs_in_and_out(chromium, site, shots):
    page = new_page(chromium, LAPTOP)
    page.goto(f"{site.url}/console")
    assert "/console/login" in page.url
    page.screenshot(path=str(shots / "console-login-laptop.png"))
    console_sign_in(page, site.url, "admin", site.password)
    assert page.url.rstrip("/").endswith("/console")
    page.get_by_text("王总").click()
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/console/login")
    assert page.errors == []


def test_a_wrong_password_says_so_in_chinese(chromium, site):
    page = new_page(chromium, PHONE)
    page.goto(f"{site.url}/console/login")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill("not the password")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text() == "用户名或密码错误"


def test_the_sign_in_page_passes_the_accessibility_check(chromium, site):
    page = new_page(chromium, PHONE, bypass_csp=True)
    page.goto(f"{site.url}/console/login")
    assert blocking(axe_violations(page)) == []
