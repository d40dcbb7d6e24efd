"""What every call to X Booker shares: the auth flow, the envelope, and the retry rule.

Reads and token calls are retried on 5xx, timeouts and dropped connections
(bounded, jittered). A write is retried only when it provably never left: a
failed connect, or a tunnel the proxy refused. After anything ambiguous (a 5xx,
a timeout or a cut connection after sending, a 2xx whose body cannot be read) it
raises :class:`OutcomeUnknownError` instead of replaying, because X Booker has no
idempotency keys.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from bot.core.text import clip
from bot.httppool import sent
from bot.xbooker import errors

log = logging.getLogger(__name__)

# Stable on purpose: X Booker binds a refresh token to the app / browser / IP that
# obtained it, so a version number here would orphan the stored token on upgrade.
USER_AGENT = "xbooker-bot"


class Observer(Protocol):
    """Told of every request to X Booker and every token call's result: the metrics."""

    def call(self, operation: str, status: str, seconds: float) -> None:
        """One attempt at ``operation``: its HTTP status, or ``timeout``,
        ``connect_error`` or ``dropped``, and how long it took."""

    def auth(self, kind: str, result: str) -> None:
        """One token call (``access`` or ``refresh``): ``ok``, ``refused`` (X Booker
        answered no) or ``error`` (no usable answer)."""


class Unobserved:
    """For clients no one measures (the CLI, doctor)."""

    def call(self, operation: str, status: str, seconds: float) -> None:
        return None

    def auth(self, kind: str, result: str) -> None:
        return None


def authorized(
    transport: httpx.BaseTransport, request: httpx.Request, auth: httpx.Auth
) -> httpx.Response:
    """Send ``request`` through ``auth``'s flow, as an httpx client would, each response
    read whole (so the connection is free again when this returns). Redirects are not
    followed: a transport never does."""
    flow = auth.sync_auth_flow(request)
    try:
        request = next(flow)
        while True:
            response = sent(transport, request)
            try:
                request = flow.send(response)
            except StopIteration:
                return response
    finally:
        flow.close()


@dataclass
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter in [0.5, 1.5) of the step."""
        step = min(self.max_delay, self.base_delay * (2**attempt))
        return step * (0.5 + self.rng())


def read_envelope(response: httpx.Response, operation: str) -> dict:
    """``data`` of a successful envelope; a typed exception for anything else."""
    status = response.status_code
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        text = f"X Booker answered HTTP {status} with a body that is not JSON ({kind})"
        if status >= 500:
            raise errors.ServerError(text, status, operation)
        raise errors.TransportError(text, status, operation)
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    if status >= 400 or body.get("success") is False:
        raise errors.from_response(status, message or f"HTTP {status}", operation)
    data = body.get("data")
    if not isinstance(data, dict):
        raise errors.TransportError(
            f"X Booker answered HTTP {status} without a data object", status, operation
        )
    return data


def send(
    request: Callable[[], httpx.Response],
    *,
    operation: str,
    idempotent: bool,
    policy: RetryPolicy,
    observer: Observer | None = None,
) -> dict:
    """Send with the retry rule of this module; returns the envelope's ``data``. Each
    attempt is reported to ``observer``."""
    observer = observer or _UNOBSERVED
    last = policy.attempts - 1
    for attempt in range(policy.attempts):
        started = time.perf_counter()
        try:
            response = request()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
            # Never reached X Booker: no connection, or the proxy refused the tunnel
            # (before any byte of the request: httpcore raises ProxyError for nothing else).
            observer.call(operation, "connect_error", time.perf_counter() - started)
            text = "could not connect to X Booker"
            if isinstance(exc, httpx.ProxyError):  # "407 Proxy Authentication Required"…
                text += f": the proxy refused ({clip(str(exc), 80)})"
            failure: errors.XBookerError = errors.TransportError(text, None, operation)
            retry = True
        except httpx.TimeoutException:
            observer.call(operation, "timeout", time.perf_counter() - started)
            failure = _ambiguous("X Booker did not answer in time", operation, idempotent)
            retry = idempotent
        except httpx.RequestError:  # a dropped connection, or an answer that cannot be decoded
            observer.call(operation, "dropped", time.perf_counter() - started)
            failure = _ambiguous("the connection to X Booker dropped", operation, idempotent)
            retry = idempotent
        else:
            observer.call(operation, str(response.status_code), time.perf_counter() - started)
            try:
                return read_envelope(response, operation)
            except errors.ServerError as exc:
                if not idempotent:  # X Booker may have applied it before failing
                    raise errors.OutcomeUnknownError(exc.message, exc.status, operation) from None
                failure, retry = exc, True
            except errors.TransportError as exc:
                if not idempotent and response.is_success:  # applied, answer unreadable
                    raise errors.OutcomeUnknownError(
                        f"{exc.message}; the change was probably applied", exc.status, operation
                    ) from None
                raise
        if not retry or attempt == last:
            raise failure
        delay = policy.delay(attempt)
        log.info(
            "xbooker %s failed (%s); retry %d of %d in %.2fs",
            operation,
            failure,
            attempt + 1,
            last,
            delay,
        )
        policy.sleep(delay)
    raise AssertionError("unreachable")


_UNOBSERVED = Unobserved()


def _ambiguous(text: str, operation: str, idempotent: bool) -> errors.TransportError:
    if idempotent:
        return errors.TransportError(text, None, operation)
    return errors.OutcomeUnknownError(
        f"{text}; the change may or may not have been applied", None, operation
    )
