"""One module per Slack callback; :func:`register` wires them all to an app."""

from __future__ import annotations

from slack_bolt import App

from bot.core.engine import Engine
from bot.slack.listeners import actions, commands
from bot.slack.responder import Responder


def register(app: App, engine: Engine, responder: Responder) -> None:
    commands.register(app, engine, responder)
    actions.register(app, engine, responder)
