"""Shared test helpers: fake clocks and a client wired to a simulator."""

from __future__ import annotations

import threading

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
