"""Text messages go through a provider: the server log in the demo, an HTTP gateway in use."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from loyalty.config import Settings
from loyalty.notifications.sms import (
    HttpSms,
    LogSms,
    SmsNotSentError,
    mask_phone,
    sms_sender,
)


@dataclass
class Gateway:
    """A real HTTP server on a free local port that keeps every request it gets."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left is part of the test


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "content_type": self.headers.get("Content-Type"),
                    "json": json.loads(body),
                }
            )
            if state.delay:
                threading.Event().wait(state.delay)
            self.send_response(state.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def test_the_gateway_gets_the_phone_and_text_with_the_bearer_token(gateway):
    HttpSms(gateway.url, "secret-token").send("+8613812341234", "您的验证码是 123456")
    (request,) = gateway.received
    assert request["path"] == "/sms"
    assert request["authorization"] == "Bearer secret-token"
    assert request["content_type"] == "application/json"
    assert request["json"] == {"phone": "+8613812341234", "text": "您的验证码是 123456"}


def test_a_gateway_error_is_a_domain_error(gateway):
    gateway.status = 500
    with pytest.raises(SmsNotSentError):
        HttpSms(gateway.url, "t").send("+8613812341234", "x")


def test_a_slow_gateway_times_out(gateway):
    gateway.delay = 1.0
    with pytest.raises(SmsNotSentError):
        HttpSms(gateway.url, "t", timeout=0.2).send("+8613812341234", "x")


def test_an_unreachable_gateway_is_a_domain_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SmsNotSentError):
        HttpSms(f"http://127.0.0.1:{port}/sms", "t", timeout=1).send("+8613812341234", "x")


def test_the_demo_prints_the_message_to_the_server_log(caplog):
    with caplog.at_level(logging.WARNING, logger="loyalty.sms"):
        LogSms().send("+8613812341234", "您的验证码是 123456")
    assert caplog.records[0].name == "loyalty.sms"
    assert caplog.records[0].getMessage() == "SMS to 138****1234: 您的验证码是 123456"


def test_the_settings_choose_the_provider():
    assert isinstance(sms_sender(Settings(sms_provider="log")), LogSms)
    chosen = sms_sender(Settings(sms_provider="http", sms_url="http://sms.example/send"))
    assert isinstance(chosen, HttpSms) and chosen.url == "http://sms.example/send"
    with pytest.raises(ValueError):
        sms_sender(Settings(sms_provider="http", sms_url=""))
    with pytest.raises(ValueError):
        sms_sender(Settings(sms_provider="pigeon"))


def test_phone_numbers_are_masked_in_the_log():
    assert mask_phone("+8613812341234") == "138****1234"
    assert mask_phone("+447700900123") == "770****0123"
