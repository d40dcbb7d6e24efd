"""Shared test helpers: fake clocks and a client wired to a simulator."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.config import XBookerCredentials
from bot.secret import Secret
from bot.simulator import DEMO_CREDENTIALS
from bot.xbooker.transport import RetryPolicy

CREDS = XBookerCredentials(DEMO_CREDENTIALS[0], DEMO_CREDENTIALS[1], Secret(DEMO_CREDENTIALS[2]))


class FakeClock:
    """A clock that moves only when told to; callable like time.monotonic."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class Sleeps:
    """Records sleeps instead of sleeping, so retry tests are instant."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def fast_retry(sleep: Sleeps | None = None) -> RetryPolicy:
    return RetryPolicy(sleep=sleep or Sleeps(), rng=lambda: 0.5)


def run_together(targets: list[Callable[[], object]]) -> list:
    """Run each target on its own thread, released together from a barrier; returns
    what each returned, or the exception it raised (for the test to assert on)."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = targets[i]()
        except Exception as exc:  # collected and asserted by the test
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def run_threads(n: int, target: Callable[[], object]) -> list:
    """``target`` on n threads at once."""
    return run_together([target] * n)


def free_port() -> int:
    """A port free right now, for servers that cannot be told to pick one (gunicorn)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer(ThreadingHTTPServer):
    """A test server on a free loopback port, a thread per connection."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class QuietHandler(BaseHTTPRequestHandler):
    """A loopback test server's handler: keep-alive HTTP/1.1, no access log."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """Serve on a thread of its own for the block; stopped and closed after it."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
