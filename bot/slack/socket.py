"""``xbooker-bot socket``: Bolt's built-in Socket Mode, for development without a public URL."""

from __future__ import annotations

import logging
import signal
import threading

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.slack.app import DrainingExecutor

log = logging.getLogger(__name__)


def connect(app: App, app_token: str) -> SocketModeHandler:
    handler = SocketModeHandler(app, app_token)
    handler.connect()
    return handler


def run(app: App, app_token: str, executor: DrainingExecutor, drain_seconds: float = 20) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    handler = connect(app, app_token)
    log.info("connected to Slack in Socket Mode")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handler.close()
        left = executor.drain(drain_seconds)
        if left:
            log.warning("shutdown: %d command(s) still running", left)
    return 0
