"""The API as ``loyalty serve`` runs it, in a subprocess, with N worker processes."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from loyalty.api.serve import reuse_port

HOST = "127.0.0.1"
READY_SECONDS = 60.0


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    note: str
    log: Path
    pid: int

    def log_tail(self, lines: int = 15) -> str:
        """The end of what the server printed (its tracebacks, if a request failed)."""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def connections_per_worker(server: Server) -> list[int]:
    """How many established connections each worker process of the server holds, most first
    (Linux ``/proc``; empty elsewhere): the kernel, not the bench, spreads them."""
    try:
        accepted = _established(server.port)
        workers = worker_pids(server.pid)
        return sorted((len(_sockets(pid) & accepted) for pid in workers), reverse=True)
    except OSError:
        return []


def worker_pids(server_pid: int) -> list[int]:
    """The worker processes ``loyalty serve`` started (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    return [
        int(pid) for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    ]


def _sockets(pid: int) -> set[int]:
    """The inodes of a process's open sockets."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _established(port: int) -> set[int]:
    """Inodes of the server's ends of the established IPv4 connections to ``port``."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            inodes.add(int(fields[9]))
    return inodes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def serve_command(port: int, workers: int) -> tuple[list[str], str]:
    """The command line (``loyalty serve``), and a note saying how it serves."""
    loop = "uvloop" if _installed("uvloop") else "asyncio"
    http = "httptools" if _installed("httptools") else "h11"
    command = [
        *(sys.executable, "-m", "loyalty", "serve"),
        *("--host", HOST, "--port", str(port), "--workers", str(workers)),
    ]
    sockets = ", a listening socket each" if workers > 1 and reuse_port() else ""
    return command, f"loyalty serve: uvicorn, {workers} workers{sockets}, {loop} + {http}"


@contextmanager
def api_server(database_url: str, workers: int) -> Iterator[Server]:
    """Start the API on a free port, wait until it answers, stop it on the way out."""
    port = _free_port()
    command, note = serve_command(port, workers)
    env = {**os.environ, "LOYALTY_DATABASE_URL": database_url}
    with tempfile.TemporaryDirectory() as tmp, (Path(tmp) / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        server = Server(HOST, port, note, Path(log.name), proc.pid)
        try:
            _wait_ready(proc, server)
            yield server
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited:\n{server.log_tail(40)}")
        try:
            url = f"http://{server.host}:{server.port}/healthz"
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the API server did not answer within {READY_SECONDS:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and its workers (the process group it leads)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
