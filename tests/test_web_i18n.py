"""Chinese first: no message the console or the member page shows lacks its translation."""

from __future__ import annotations

from loyalty.web.i18n import Formats, gettext_for, negotiate
from loyalty.web.messages import conflicts, missing, template_and_code_messages


def test_every_message_has_a_chinese_translation():
    assert missing("zh_CN") == []


def test_no_message_is_translated_two_ways():
    """Catalogs are merged; a message two of them translate differently would read one way
    on every page, whichever catalog came last ("To pick up" was 待自提 and 待核销)."""
    assert conflicts("zh_CN") == {}


def test_the_pages_really_are_translated():
    messages = template_and_code_messages()
    assert "Sign in" in messages and len(messages) > 50
    assert gettext_for("zh_CN")("Sign in") == "登录"
    assert gettext_for("en")("Sign in") == "Sign in"


def test_chinese_unless_the_reader_chose_english():
    assert negotiate(None, None) == "zh_CN"
    assert negotiate(None, "en-US,en;q=0.9") == "en"
    assert negotiate("zh_CN", "en-US") == "zh_CN"
    assert negotiate("en", "zh-CN") == "en"
    assert negotiate("fr", None) == "zh_CN"


def test_money_and_numbers_read_naturally():
    fmt = Formats("zh_CN")
    assert fmt.yuan(123456) == "¥1,234.56"
    assert fmt.yuan(-5) == "-¥0.05"
    assert fmt.number(1234567) == "1,234,567"
    assert fmt.percent(0.8123) == "81.2%"
