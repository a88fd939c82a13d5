"""Browser tests: Debian's Chromium driven by Playwright against a served demo chain.

The demo chain (a few hundred members with a year of history, the demo's console users, a
stocked points mall) is built once on its own SQLite file and served by uvicorn in a thread.
Screenshots go to ``$LOYALTY_SCREENSHOTS`` (``scripts/dev screenshots`` points it at
``docs/screenshots``), else to a temporary folder.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from loyalty.api.app import create_app
from loyalty.db.base import utcnow
from loyalty.db.bootstrap import initialise
from loyalty.db.engine import Database
from loyalty.demo.console_users import demo_console_users
from loyalty.demo.generate import build_demo
from loyalty.jobs.registry import JOBS
from loyalty.stores.models import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}


@dataclass(frozen=True)
class Site:
    url: str
    db: Database
    password: str
    store_code: str
    other_store_code: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _build(db: Database) -> tuple[str, str, str]:
    now = utcnow()
    initialise(db)
    program_id, _ = build_demo(db, now, members=300, seed=11)
    job, _ = JOBS["rollups"]
    job(db, now, now, None)
    store_code, password = demo_console_users(db, program_id, now)
    with db.reader() as session:
        codes = session.scalars(select(Store.code).order_by(Store.id)).all()
    return store_code, next(c for c in codes if c != store_code), password


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("browser") / "demo.db"
    db = Database(f"sqlite:///{path}", pool_size=10)
    store_code, other_store, password = _build(db)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield Site(f"http://127.0.0.1:{port}", db, password, store_code, other_store)
    server.should_exit = True
    thread.join(5)
    db.dispose()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/dev does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    folder = Path(os.environ.get("LOYALTY_SCREENSHOTS") or "/tmp/loyalty-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
