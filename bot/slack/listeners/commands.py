"""``/xbooker``: acked at once from local reads, the work done as a lazy listener.

The ack function plans the command (parse and authorize: SQLite reads only) and
answers help, usage errors and refusals in the ack body itself. The plan is
handed to the lazy listener through :class:`Plans`, so each command is parsed
and authorized once; the lazy listener executes it (writes, X Booker) and
answers through ``response_url``, or only records it when the ack answered.

A command that has a form (``members add``, ``org update``…) typed without what it
requires opens that form instead of a usage lesson, pre-filled with what was typed.
"""

from __future__ import annotations

import hashlib
import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import logs
from bot.core import forms, render
from bot.core.context import Invocation
from bot.core.engine import Engine, Plan
from bot.slack.decode import decode
from bot.slack.home import HomePublisher
from bot.slack.listeners.forms import open_form
from bot.slack.payloads import ack_body, message
from bot.slack.plans import Plans
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


def _key(body: dict) -> str:
    """The same payload in the ack and the lazy listener: Slack's trigger id and user."""
    return f"{body.get('trigger_id')}|{body.get('user_id')}|{body.get('team_id')}"


def wants_form(plan: Plan) -> str | None:
    """The form to open instead of this plan's usage lesson, if it has one."""
    if plan.outcome != "invalid" or plan.parsed is not None:
        return None
    return forms.wanted(plan.inv.text)


def register(
    app: App, engine: Engine, responder: Responder, client: WebClient, homes: HomePublisher
) -> None:
    plans = Plans()

    def acknowledge(ack: Ack, body: dict) -> None:
        plan = engine.plan(invocation(body))
        if body.get("trigger_id"):
            plans.put(_key(body), plan)
            if wants_form(plan):
                ack()
                return
        if plan.reply is not None:
            ack(**ack_body(plan.reply))
        else:
            ack()

    def work(body: dict) -> None:
        handed = plans.take(_key(body)) if body.get("trigger_id") else None
        plan = handed or engine.plan(invocation(body))
        inv = plan.inv
        command = wants_form(plan) if handed is not None else None
        if command is not None:
            try:
                trigger = str(body["trigger_id"])
                open_form(client, engine, homes, trigger, command, inv.text, inv.channel_id)
                return
            except Exception as exc:  # the trigger expired: the usage lesson instead
                log.warning("could not open the %s form: %s", command, type(exc).__name__)
                handed = None
        try:
            reply = engine.execute(plan)
        except Exception:  # a bug must still get the user an answer
            log.exception("command failed inside the bot (ref %s)", inv.correlation)
            reply = render.internal_error(inv)
        if handed is not None and handed.reply is not None:
            return  # answered in the ack; execute() only recorded it
        # (A plan made again here may differ from the ack's, say after a revoke in between:
        # its answer is sent, since the ack's cannot be known.)
        payload = message(reply)
        payload["response_type"] = "in_channel" if reply.in_channel else "ephemeral"
        with logs.command_scope(inv.correlation, plan.detail.get("command")):
            responder.send(str(body.get("response_url", "")), payload, inv.correlation)

    app.command(COMMAND)(ack=acknowledge, lazy=[work])
