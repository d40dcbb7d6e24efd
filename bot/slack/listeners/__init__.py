"""One module per Slack surface; :func:`register` wires them all to an app."""

from __future__ import annotations

from concurrent.futures import Executor

from slack_bolt import App
from slack_sdk import WebClient

from bot.core.engine import Engine
from bot.slack.home import HomePublisher
from bot.slack.listeners import actions, commands, forms, home, pages
from bot.slack.responder import Responder


def register(
    app: App,
    engine: Engine,
    responder: Responder,
    client: WebClient,
    homes: HomePublisher,
    executor: Executor,
) -> None:
    commands.register(app, engine, responder, client, homes, executor)
    actions.register(app, engine, responder, client, homes)
    forms.register(app, engine, client, homes)
    home.register(app, engine, client, homes)
    pages.register(app, engine, responder)
