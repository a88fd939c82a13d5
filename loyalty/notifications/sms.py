"""Text messages (SMS) through a provider interface: the member page's sign-in codes.

``LogSms`` writes each message to the server log (the demo and a pilot need no gateway);
``HttpSms`` posts it as JSON to a gateway of the operator's choice. ``sms_sender`` picks one
from the settings (``LOYALTY_SMS_PROVIDER``, ``LOYALTY_SMS_URL``, ``LOYALTY_SMS_TOKEN``).
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx
import phonenumbers

from loyalty.config import Settings
from loyalty.errors import LoyaltyError

logger = logging.getLogger("loyalty.sms")
TIMEOUT_SECONDS = 5.0


class SmsNotSentError(LoyaltyError):
    status = 502
    code = "sms_not_sent"
    title = "The text message could not be sent; try again later"


class SmsSender(Protocol):
    """Anything that can deliver a text message to a phone number (E.164)."""

    def send(self, phone: str, text: str) -> None: ...


def mask_phone(phone: str) -> str:
    """``+8613812341234`` -> ``138****1234``: enough for the reader, not for a log thief."""
    try:
        national = str(phonenumbers.parse(phone, "CN").national_number)
    except phonenumbers.NumberParseException:
        national = "".join(ch for ch in phone if ch.isdigit())
    if len(national) < 8:
        return "****" + national[-2:]
    return f"{national[:3]}****{national[-4:]}"


class LogSms:
    """Writes each message to the ``loyalty.sms`` logger at WARNING, so a plain server log
    shows it: the demo's way of "sending" a sign-in code."""

    def send(self, phone: str, text: str) -> None:
        logger.warning("SMS to %s: %s", mask_phone(phone), text)


class HttpSms:
    """Posts ``{"phone": ..., "text": ...}`` with ``Authorization: Bearer <token>`` to a
    gateway; any answer but 2xx, a refused connection or a time-out is ``SmsNotSentError``."""

    def __init__(self, url: str, token: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout

    def send(self, phone: str, text: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            answer = httpx.post(
                self.url, json={"phone": phone, "text": text}, headers=headers, timeout=self.timeout
            )
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            logger.error("SMS to %s failed: %s", mask_phone(phone), exc)
            raise SmsNotSentError(f"the SMS gateway did not take the message: {exc}") from exc


def sms_sender(settings: Settings) -> SmsSender:
    """The sender the settings ask for: ``log`` (default) or ``http``."""
    if settings.sms_provider == "http":
        if not settings.sms_url:
            raise ValueError("LOYALTY_SMS_PROVIDER=http needs LOYALTY_SMS_URL")
        return HttpSms(settings.sms_url, settings.sms_token)
    if settings.sms_provider != "log":
        raise ValueError(f"LOYALTY_SMS_PROVIDER is 'log' or 'http', not {settings.sms_provider!r}")
    return LogSms()
