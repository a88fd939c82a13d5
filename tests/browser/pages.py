"""Helpers for browser tests: sign in, watch for script errors, check accessibility."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "axe.min.js"
# Impacts that fail the build; "minor" and "moderate" findings are printed.
BLOCKING = {"serious", "critical"}


def new_page(browser: Any, viewport: dict[str, int], bypass_csp: bool = False) -> Any:
    """A fresh context (no cookies) whose page fails the test on any script error."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=bypass_csp)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: page.errors.append(msg.text) if msg.type == "error" else None,
    )
    return page


def console_sign_in(page: Any, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/console/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda u: "/console/login" not in u)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (served from this repository, not a CDN) on the current page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])


def blocking(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in violations
        if v.get("impact") in BLOCKING
    ]


class SmsInbox(logging.Handler):
    """Reads the sign-in codes the demo's SMS provider writes to the server log."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def last_code(self) -> str:
        for message in reversed(self.messages):
            found = re.search(r"\b(\d{6})\b", message)
            if found:
                return found.group(1)
        raise AssertionError(f"no code was sent: {self.messages}")


@contextmanager
def sms_inbox() -> Iterator[SmsInbox]:
    inbox = SmsInbox()
    logger = logging.getLogger("loyalty.sms")
    logger.addHandler(inbox)
    try:
        yield inbox
    finally:
        logger.removeHandler(inbox)


def member_sign_in(page: Any, url: str, phone: str) -> None:
    """Sign in on the member page with the code the SMS provider sent."""
    with sms_inbox() as inbox:
        page.goto(f"{url}/m/login")
        page.locator("#phone").fill(phone)
        page.locator("#send-code").click()
        page.locator("#code").wait_for()
        page.locator("#code").fill(inbox.last_code())
        page.locator("#sign-in").click()
        page.wait_for_url(lambda u: "/m/login" not in u)
