"""The Approve and Reject buttons: acked at once, decided in a lazy listener.

A click is turned into the same invocation as the typed ``approvals approve <id>``
and goes through the engine like any command (workspace check, the role the
registry names, audit), carrying what binds it to its card: the nonce in the
button's value and the channel and message it was clicked on. Bolt does not
deduplicate clicks; the approvals' compare-and-set transitions do.
"""

from __future__ import annotations

import logging
import re

from slack_bolt import Ack, App

from bot.core import render
from bot.core.cards import APPROVE, REJECT
from bot.core.context import Click, Invocation
from bot.core.engine import Engine
from bot.slack.payloads import message
from bot.slack.responder import Responder

# "<request id>:<nonce>"; anything else is not one of our buttons.
_VALUE = re.compile(r"^([0-9]{1,9}):([0-9a-f]{32})$")
log = logging.getLogger(__name__)


def invocation(body: dict) -> Invocation:
    action = (body.get("actions") or [{}])[0]
    found = _VALUE.fullmatch(str(action.get("value", "")))
    rid, nonce = found.groups() if found else ("0", "")
    verb = "approve" if action.get("action_id") == APPROVE else "reject"
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts")
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    return Invocation(
        team_id=str(team or ""),
        user_id=str((body.get("user") or {}).get("id", "")),
        text=f"approvals {verb} {rid}",
        source="slack",
        channel_id=str(channel) if channel else None,
        click=Click(nonce, str(channel) if channel else None, str(ts) if ts else None),
    )


def register(app: App, engine: Engine, responder: Responder) -> None:
    def acknowledge(ack: Ack) -> None:
        ack()

    def decide(body: dict) -> None:
        inv = invocation(body)
        try:
            reply = engine.handle(inv)
        except Exception:  # a bug must still get the clicker an answer
            log.exception("button click failed inside the bot (ref %s)", inv.correlation)
            reply = render.internal_error(inv)
        payload = {**message(reply), "response_type": "ephemeral", "replace_original": False}
        responder.send(str(body.get("response_url", "")), payload, inv.correlation)

    for action_id in (APPROVE, REJECT):
        app.action(action_id)(ack=acknowledge, lazy=[decide])
