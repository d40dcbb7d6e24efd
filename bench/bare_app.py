"""Bare Bolt apps whose only handler acks: the baselines for bench/ack.py.

Served by the same stack as ``xbooker-bot serve`` (gunicorn, one gthread worker,
Bolt's WSGI adapter):

    gunicorn -k gthread --threads 16 'bench.bare_app:make("floor")'
"""

from __future__ import annotations

import os

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult


def make(mode: str) -> SlackRequestHandler:
    """``default``: Bolt's default mode; ``floor``: ``process_before_response=True``."""
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=(mode == "floor"),
        authorize=lambda enterprise_id, team_id, **_: AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bench"
        ),
    )

    @app.command("/xbooker")
    def ack_only(ack) -> None:
        ack()

    return SlackRequestHandler(app)
