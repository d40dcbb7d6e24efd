"""The Approve and Reject buttons: acked at once, decided in a lazy listener.

Bolt does not deduplicate clicks; the approvals service's compare-and-set
transitions do. The clicker gets an ephemeral answer through the action's
``response_url``; the channel message itself is updated by the service.
"""

from __future__ import annotations

import logging
import re

from slack_bolt import Ack, App

from bot.core import render
from bot.core.approvals import APPROVE, REJECT
from bot.core.context import Invocation
from bot.core.engine import Engine
from bot.core.replies import Reply
from bot.slack.payloads import message
from bot.slack.responder import Responder

_ID = re.compile(r"^[0-9]{1,9}$")
log = logging.getLogger(__name__)


def register(app: App, engine: Engine, responder: Responder) -> None:
    approvals = engine.svc.approvals

    def acknowledge(ack: Ack) -> None:
        ack()

    def decide(body: dict) -> None:
        action = (body.get("actions") or [{}])[0]
        value = str(action.get("value", ""))
        team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
        user = (body.get("user") or {}).get("id", "")
        verb = "approve" if action.get("action_id") == APPROVE else "reject"
        inv = Invocation(
            team_id=str(team or ""),
            user_id=str(user),
            text=f"approvals {verb} {value}",
            source="slack",
            channel_id=(body.get("channel") or {}).get("id"),
        )
        try:
            if inv.team_id != engine.svc.team_id or not _ID.fullmatch(value):
                reply = Reply.note(":no_entry: This button is not one of this bot's requests.")
            elif verb == "approve":
                reply = approvals.approve(int(value), inv)
            else:
                reply = approvals.reject(int(value), inv)
        except Exception:  # a bug must still get the clicker an answer
            log.exception("button click failed inside the bot (ref %s)", inv.correlation)
            reply = render.internal_error(inv)
        payload = {**message(reply), "response_type": "ephemeral", "replace_original": False}
        responder.send(str(body.get("response_url", "")), payload, "click")

    for action_id in (APPROVE, REJECT):
        app.action(action_id)(ack=acknowledge, lazy=[decide])
