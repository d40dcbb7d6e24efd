"""``xbooker-bot serve``: gunicorn, one worker with threads, Bolt's WSGI adapter.

One worker, because the refresh token is an app-wide singleton and one process
holding it is the simplest way never to fight over it (the store's lease still
guards a second process). Everything with a connection or a thread is built in
the worker, after the fork. On SIGTERM gunicorn stops accepting, finishes
requests in flight, and then ``worker_exit`` waits (bounded) for lazy work
that Slack was already told about.

gunicorn's own lines (start-up, workers, its errors) go through the root
logger like every other line, so ``LOG_FORMAT=json`` and the secret scrubber
apply to them too.
"""

from __future__ import annotations

import logging

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from prometheus_client import start_http_server

from bot.config import Settings
from bot.metrics import Metrics
from bot.slack.web import WebApp

log = logging.getLogger(__name__)
THREADS = 16
DRAIN_SECONDS = 20


class _Gunicorn(BaseApplication):
    def __init__(self, factory, options: dict) -> None:
        self._factory = factory
        self._options = options
        self.web: WebApp | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> WebApp:
        self.web = self._factory()
        return self.web


class _RootLogger(glogging.Logger):
    """gunicorn's error log without handlers of its own: its records reach the root
    logger's handler, in the bot's format."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True


def serve_metrics(metrics: Metrics, host: str, port: int) -> None:
    """``/metrics`` on a port of its own (``XBOOKER_BOT_METRICS_PORT``), served by
    prometheus_client's server on a daemon thread of this process."""
    start_http_server(port, addr=host, registry=metrics.registry)
    log.info("serving metrics on http://%s:%d/metrics", host, port)


def run(settings: Settings, factory, host: str, port: int) -> int:
    holder: dict[str, _Gunicorn] = {}

    def worker_exit(server, worker) -> None:
        web = holder["app"].web
        if web is not None:
            web.drain(DRAIN_SECONDS)

    options = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": THREADS,
        "graceful_timeout": DRAIN_SECONDS + 10,
        "timeout": 60,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "worker_exit": worker_exit,
        "proc_name": "xbooker-bot",
        "logger_class": _RootLogger,
    }
    app = _Gunicorn(factory, options)
    holder["app"] = app
    log.info("serving Slack on http://%s:%d/slack/events", host, port)
    app.run()
    return 0
