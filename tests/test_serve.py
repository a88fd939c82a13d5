"""``loyalty serve --workers N``: the tills' connections reach every worker, and a worker
that dies is replaced. A real server in a subprocess, real sockets."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loyalty.api.serve import reuse_port
from loyalty.bench.server import Server, connections_per_worker, worker_pids

pytestmark = pytest.mark.skipif(not reuse_port(), reason="SO_REUSEPORT is Linux's")

TILLS = 16


@pytest.fixture
def server(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "LOYALTY_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    command = [sys.executable, "-m", "loyalty", "serve", "--port", "0", "--workers", "2"]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _port(proc: subprocess.Popen[str]) -> int:
    assert proc.stderr is not None  # where the CLI talks to people
    found = re.search(r"127\.0\.0\.1:(\d+)", proc.stderr.readline())
    assert found, "serve did not print its address"
    return int(found.group(1))


def _healthz(conn: socket.socket) -> None:
    """One request on a keep-alive connection, read to the end of its answer."""
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: till\r\n\r\n")
    answer = b""
    while not answer.endswith(b'{"status":"ok"}'):
        chunk = conn.recv(4096)
        assert chunk, f"connection closed after {answer!r}"
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")


def _connect(port: int, attempts: int = 100) -> socket.socket:
    for _ in range(attempts):
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            _healthz(conn)
            return conn
        except (ConnectionError, AssertionError):
            time.sleep(0.1)
    raise AssertionError("the server never answered")


def _spread(proc: subprocess.Popen[str], port: int) -> list[int]:
    return connections_per_worker(Server("127.0.0.1", port, "", Path(), proc.pid))


def test_tills_opening_together_reach_every_worker(server: subprocess.Popen[str]) -> None:
    port = _port(server)
    _connect(port).close()  # both workers are up once one answers and a moment has passed
    time.sleep(1.0)
    tills = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(TILLS)]
    for till in tills:
        _healthz(till)
    spread = _spread(server, port)
    assert sum(spread) == TILLS
    assert len(spread) == 2 and min(spread) > 0, spread
    for till in tills:
        till.close()


def test_a_worker_that_dies_is_replaced(server: subprocess.Popen[str]) -> None:
    port = _port(server)
    _connect(port).close()
    time.sleep(1.0)
    before = worker_pids(server.pid)
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = worker_pids(server.pid)
        if len(now) == 2 and before[0] not in now:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no worker replaced {before[0]}")
    for _ in range(TILLS):  # every socket is served again
        _connect(port).close()


def test_a_port_already_served_is_refused_not_shared(
    server: subprocess.Popen[str], tmp_path: Path
) -> None:
    """A second server started on the port (by mistake, or a deploy that forgot to stop the
    first) is refused with a clear error rather than splitting the tills between the two."""
    port = _port(server)
    _connect(port).close()
    env = {**os.environ, "LOYALTY_DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"}
    command = [sys.executable, "-m", "loyalty", "serve", "--port", str(port), "--workers", "2"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_workers_end_when_the_supervisor_is_killed_outright(server: subprocess.Popen[str]) -> None:
    port = _port(server)
    _connect(port).close()
    time.sleep(1.0)
    workers = worker_pids(server.pid)
    server.kill()
    server.wait(timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_running(pid) for pid in workers), "workers outlived their supervisor"


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False
