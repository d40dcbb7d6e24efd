"""``/xbooker``: acked at once from local reads, the work done as a lazy listener.

The ack function parses and authorizes (SQLite reads only) and answers help,
usage errors and refusals in the ack body itself. Everything else is acked
empty and done by the lazy listener, which answers through ``response_url``.
Both halves compute the same plan from the same payload; the correlation id is
derived from the payload's ``trigger_id`` so the two agree on it.
"""

from __future__ import annotations

import hashlib
import logging

from slack_bolt import Ack, App

from bot.core import render
from bot.core.context import Invocation
from bot.core.engine import Engine
from bot.slack.decode import decode
from bot.slack.payloads import ack_body, message
from bot.slack.responder import Responder

COMMAND = "/xbooker"
log = logging.getLogger(__name__)


def invocation(body: dict) -> Invocation:
    trigger = str(body.get("trigger_id") or body.get("command_ts") or "")
    correlation = hashlib.sha256(trigger.encode()).hexdigest()[:8] if trigger else None
    extra = {"correlation": correlation} if correlation else {}
    return Invocation(
        team_id=str(body.get("team_id", "")),
        user_id=str(body.get("user_id", "")),
        text=decode(str(body.get("text", ""))),
        source="slack",
        channel_id=body.get("channel_id"),
        **extra,
    )


def register(app: App, engine: Engine, responder: Responder) -> None:
    def acknowledge(ack: Ack, body: dict) -> None:
        plan = engine.plan(invocation(body))
        if plan.reply is not None:
            ack(**ack_body(plan.reply))
        else:
            ack()

    def work(body: dict) -> None:
        inv = invocation(body)
        try:
            plan = engine.plan(inv)
            reply = engine.execute(plan)
        except Exception:  # a bug must still get the user an answer
            log.exception("command failed inside the bot (ref %s)", inv.correlation)
            reply, plan = render.internal_error(inv), None
        if plan is not None and plan.reply is not None:
            return  # answered in the ack; execute() only recorded it
        payload = message(reply)
        payload["response_type"] = "in_channel" if reply.in_channel else "ephemeral"
        responder.send(str(body.get("response_url", "")), payload, inv.correlation)

    app.command(COMMAND)(ack=acknowledge, lazy=[work])
