"""Serving the API with several worker processes, each on its own listening socket.

uvicorn's own workers share one listening socket, and whichever worker wakes first accepts
every connection waiting: a shop's tills that open their keep-alive connections together
(after a network blip, or at opening time) all land on one worker while the other idles.
Here each worker listens on a socket of its own bound to the same port (``SO_REUSEPORT``),
and the kernel spreads new connections over the sockets. A worker that dies is started
again on its socket (connections queued there wait for it); SIGINT or SIGTERM stops them all.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

APP = "loyalty.api.main:app"
BACKLOG = 2048
CHECK_SECONDS = 0.5

log = logging.getLogger("uvicorn.error")


def serve(host: str, port: int, workers: int, on_ready: Callable[[int], None]) -> None:
    """Serve the API until SIGINT or SIGTERM; ``on_ready`` gets the port once it is bound
    (the one the system chose, for port 0)."""
    config = uvicorn.Config(APP, workers=workers, log_level="warning", access_log=False)
    sockets = listening_sockets(host, port, workers)
    on_ready(sockets[0].getsockname()[1])
    try:
        Supervisor(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()


def reuse_port() -> bool:
    """Whether this system spreads connections over sockets sharing a port: Linux does (the
    BSDs and macOS accept ``SO_REUSEPORT`` but give every connection to one socket)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets listening on one port (with port 0, a free one). The port is first
    bound alone: a port another server holds is refused (``OSError``) even when that server
    shares it the same way, where binding with ``SO_REUSEPORT`` straight away would join it
    and split the tills' connections between two servers."""
    port = _bound_alone(host, port)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(_listen(host, port))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bound_alone(host: str, port: int) -> int:
    with _socket(host) as probe:
        probe.bind((host, port))
        bound: int = probe.getsockname()[1]
        return bound


def _socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def _listen(host: str, port: int) -> socket.socket:
    sock = _socket(host)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Worker ``i`` serves ``sockets[i]``; a worker that dies is replaced on the same socket."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.workers: list[Process] = []
        self.stop = threading.Event()

    def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop.set())
        self.workers = [self._start(sock) for sock in self.sockets]
        while not self.stop.wait(CHECK_SECONDS):
            self._replace_dead()
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.join()

    def _start(self, sock: socket.socket) -> Process:
        worker = _Worker(self.config, [sock])
        worker.start()
        return worker

    def _replace_dead(self) -> None:
        for i, worker in enumerate(self.workers):
            if worker.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            worker.kill()
            worker.join()
            if worker.exitcode == STARTUP_FAILURE:  # it would fail the same way again
                log.error("worker %s could not start; stopping", worker.pid)
                self.stop.set()
                return
            log.warning("worker %s died (exit %s); starting another", worker.pid, worker.exitcode)
            self.workers[i] = self._start(self.sockets[i])


class _Worker(Process):
    """uvicorn's worker process, which also ends when the supervisor does, however it ended
    (killed outright, its workers would go on serving the port with nobody to stop them)."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:
        _end_with_parent()
        super().target(sockets)


def _end_with_parent() -> None:
    """Ask Linux for SIGTERM when the parent process ends (``PR_SET_PDEATHSIG``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1
