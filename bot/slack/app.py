"""``build_app``: the Bolt app, configured for answering Slack in under a millisecond.

``process_before_response=True`` runs the ack function in the request thread
and returns as soon as it acks; the work runs on an executor sized for bursts (as
a lazy listener, or handed over by the ack itself: see
:mod:`bot.slack.listeners.commands`). (Bolt's default mode polls for the ack every
10 ms from the request thread, which measured 11.4 ms p50 against 0.6 ms this way.) The
``authorize`` function avoids Bolt's per-request ``auth.test``: the team is
known from start-up.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import threading

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from bot import logs
from bot.config import Settings
from bot.core.engine import Engine
from bot.slack import listeners
from bot.slack.home import HomePublisher
from bot.slack.responder import Responder
from bot.store import Store

log = logging.getLogger(__name__)
WORKERS = 64
WORK_NICENESS = 10


def _yield_to_acks() -> None:
    """Run work threads at a lower scheduling priority than request threads, so
    that on a busy machine Slack's 3-second ack comes before finishing earlier
    work (bench/ack.py: p99 at concurrency 16 went from 1.6-2.2x the bare-Bolt
    floor to 1.1-1.5x). Linux sets priority per thread; elsewhere this is a no-op."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORK_NICENESS)


class DrainingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A thread pool that can wait, within a bound, for the work it holds."""

    def __init__(self, max_workers: int = WORKERS) -> None:
        super().__init__(
            max_workers=max_workers, thread_name_prefix="xbooker-work", initializer=_yield_to_acks
        )
        self._pending: set[concurrent.futures.Future] = set()
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: concurrent.futures.Future) -> None:
        with self._lock:
            self._pending.discard(future)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending)

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for work in flight; returns how many did not finish."""
        with self._lock:
            pending = set(self._pending)
        _, not_done = concurrent.futures.wait(pending, timeout=timeout)
        self.shutdown(wait=False, cancel_futures=True)
        return len(not_done)


def web_client(settings: Settings, *, wait_out_rate_limits: bool = True) -> WebClient:
    """``wait_out_rate_limits=False`` for a check someone is watching (doctor): Slack's
    Retry-After can be minutes, better said than slept through."""
    assert settings.slack_bot_token is not None
    handlers = [ConnectionErrorRetryHandler()]
    if wait_out_rate_limits:
        handlers.append(RateLimitErrorRetryHandler(2))
    return WebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=handlers,
    )


def resolve_team_id(settings: Settings, store: Store, client: WebClient) -> str:
    """``SLACK_TEAM_ID``, else ``auth.test`` at start-up (stored for the CLI and console)."""
    team = settings.slack_team_id or client.auth_test()["team_id"]
    with store.write() as db:
        db.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('slack_team_id', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (team,),
        )
    return team


def build_app(
    settings: Settings,
    engine: Engine,
    *,
    client: WebClient | None = None,
    executor: concurrent.futures.Executor | None = None,
    socket_mode: bool = False,
    verified_before: bool = False,
) -> App:
    """``verified_before``: the WSGI app in front (:mod:`bot.slack.web`) has checked every
    request's signature already, so Bolt need not compute it a second time."""
    client = client or web_client(settings)
    token = client.token
    team = engine.svc.team_id

    def authorize(enterprise_id: str | None, team_id: str | None, **_: object) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id or team, bot_token=token
        )

    if not socket_mode and settings.slack_signing_secret is None:
        raise ValueError("SLACK_SIGNING_SECRET is required to verify requests")
    # Bolt warns that SLACK_BOT_TOKEN from the environment is unused when a
    # client and authorize are given; that is the intent, so hush it here.
    bolt_log = logging.getLogger("slack_bolt.App")
    level = bolt_log.level
    bolt_log.setLevel(logging.ERROR)
    # One executor for every listener and for App Home publishing, so that draining it
    # (at shutdown) leaves nothing reading the store after it closes.
    executor = executor or DrainingExecutor()
    try:
        verify = not (socket_mode or verified_before)
        app = _bolt_app(settings, client, authorize, executor, socket_mode, verify, bolt_log)
    finally:
        bolt_log.setLevel(level)
    logs.quiet_libraries(logging.getLogger().getEffectiveLevel())

    @app.error
    def on_error(error: Exception) -> None:
        log.error("unhandled error in a Slack listener: %s", type(error).__name__)

    homes = HomePublisher(client, engine, executor)
    engine.approvals.subscribe(homes.refresh_request)
    listeners.register(app, engine, Responder(), client, homes, executor)
    return app


def _bolt_app(settings, client, authorize, executor, socket_mode, verify, logger) -> App:
    return App(
        client=client,
        signing_secret=settings.slack_signing_secret.reveal()
        if settings.slack_signing_secret
        else "",
        process_before_response=True,
        listener_executor=executor,
        authorize=authorize,
        request_verification_enabled=verify,
        url_verification_enabled=not socket_mode,
        logger=logger,
    )
