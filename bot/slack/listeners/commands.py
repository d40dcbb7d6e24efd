"""``/xbooker``: acked at once from local reads, the work handed to the executor.

The ack function plans the command (parse and authorize: SQLite reads only) and
answers help, usage errors and refusals in the ack body itself. It then hands the
plan itself to the listeners' executor, so each command is parsed and authorized
once; the work executes it (writes, X Booker) and answers through
``response_url``, or only records it when the ack answered.

This is what Bolt's lazy listeners do, without their cost: Bolt deep-copies the
request and dispatches the copy through the app a second time to find the lazy
function (bench/e2e.py measured that at about a tenth of a command's CPU).

A command that has a form (``members add``, ``org update``…) typed without what it
requires opens that form instead of a usage lesson, pre-filled with what was typed.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import Executor

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import logs
from bot.core import forms, render
from bot.core.context import Invocation
from bot.core.engine import Engine, Plan
from bot.core.replies import Reply
from bot.slack.decode import decode
from bot.slack.home import HomePublisher
from bot.slack.listeners.forms import open_form
from bot.slack.payloads import ack_body, message
from bot.slack.responder import Responder

COMMAND = "/xbooker"
STOPPING = ":hourglass: xbooker-bot is restarting and did not run this; try again in a moment."
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


def wants_form(plan: Plan) -> str | None:
    """The form to open instead of this plan's usage lesson, if it has one."""
    if plan.outcome != "invalid" or plan.parsed is not None:
        return None
    return forms.wanted(plan.inv.text)


def register(
    app: App,
    engine: Engine,
    responder: Responder,
    client: WebClient,
    homes: HomePublisher,
    executor: Executor,
) -> None:
    def acknowledge(ack: Ack, body: dict) -> None:
        plan = engine.plan(invocation(body))
        trigger = str(body.get("trigger_id") or "")
        form = wants_form(plan) if trigger else None
        response_url = str(body.get("response_url", ""))
        try:
            executor.submit(work, plan, form, trigger, response_url)
        except RuntimeError:  # shutting down: the executor has stopped taking work
            log.warning("a command arrived while shutting down (ref %s)", plan.inv.correlation)
            ack(**ack_body(Reply.note(STOPPING)))
            return
        if form is None and plan.reply is not None:
            ack(**ack_body(plan.reply))
        else:
            ack()

    def work(plan: Plan, form: str | None, trigger: str, response_url: str) -> None:
        try:
            answer(plan, form, trigger, response_url)
        except Exception:  # nothing may fail silently on an executor thread
            log.exception("a command's work failed (ref %s)", plan.inv.correlation)

    def answer(plan: Plan, form: str | None, trigger: str, response_url: str) -> None:
        inv = plan.inv
        if form is not None:
            try:
                open_form(client, engine, homes, trigger, form, inv.text, inv.channel_id)
                return
            except Exception as exc:  # the trigger expired: the usage lesson instead
                log.warning("could not open the %s form: %s", form, type(exc).__name__)
        try:
            reply = engine.execute(plan)
        except Exception:  # a bug must still get the user an answer
            log.exception("command failed inside the bot (ref %s)", inv.correlation)
            reply = render.internal_error(inv)
        if plan.reply is not None and form is None:
            return  # answered in the ack; execute() only recorded it
        payload = message(reply)
        payload["response_type"] = "in_channel" if reply.in_channel else "ephemeral"
        with logs.command_scope(inv.correlation, plan.detail.get("command")):
            responder.send(response_url, payload, inv.correlation)

    app.command(COMMAND)(acknowledge)
