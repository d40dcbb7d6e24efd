"""The WSGI application gunicorn serves: ``/slack/events`` and ``GET /healthz``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import __version__
from bot.slack.app import DrainingExecutor

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


class WebApp:
    def __init__(self, app: App, executor: DrainingExecutor) -> None:
        self._slack = SlackRequestHandler(app, path=EVENTS_PATH)
        self.executor = executor

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path == EVENTS_PATH:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            return self._slack(environ, start_response)
        if path == "/healthz":
            body = {"ok": True, "version": __version__, "in_flight": self.executor.in_flight()}
            return _json(start_response, "200 OK", body)
        return _json(start_response, "404 Not Found", {"error": "not found"})

    def drain(self, timeout: float) -> None:
        """Let work already acked to Slack finish, within ``timeout`` seconds."""
        left = self.executor.drain(timeout)
        if left:
            log.warning("shutdown: %d command(s) still running after %.0f s", left, timeout)
        else:
            log.info("shutdown: all work in flight finished")


def _json(start_response: Callable, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
