"""The request buttons (Approve, Reject, Cancel) on cards and on App Home: acked at
once, handled in a lazy listener.

A click becomes the same invocation as the typed ``approvals approve <id>`` (or
``cancel``) and goes through the engine like any command (workspace check, the
role the registry names, audit), carrying what binds it to where it was clicked:
the nonce in the button's value and, on a card, the channel and message. Reject
first asks for a reason in a modal; its submission (:mod:`.forms`) decides. Bolt
does not deduplicate clicks; the approvals' compare-and-set transitions do.
"""

from __future__ import annotations

import logging

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core import render
from bot.core.cards import APPROVE, REJECT
from bot.core.context import Invocation
from bot.core.engine import Engine
from bot.core.home import CANCEL
from bot.core.replies import Reply
from bot.slack.clicks import Clicked, clicked
from bot.slack.direct import Direct
from bot.slack.home import HomePublisher
from bot.slack.payloads import message
from bot.slack.responder import Responder
from bot.slack.views import reject_modal

log = logging.getLogger(__name__)
VERBS = {APPROVE: "approve", CANCEL: "cancel"}


def invocation(c: Clicked, verb: str, reason: str | None = None) -> Invocation:
    rid, nonce = c.request()
    text = f"approvals {verb} {rid}" + (f" {reason}" if reason else "")
    return Invocation(
        team_id=c.team_id,
        user_id=c.user_id,
        text=text,
        source="slack",
        channel_id=c.channel_id,
        click=c.click(nonce),
    )


def run(engine: Engine, inv: Invocation) -> Reply:
    try:
        return engine.handle(inv)
    except Exception:  # a bug must still get the clicker an answer
        log.exception("button click failed inside the bot (ref %s)", inv.correlation)
        return render.internal_error(inv)


def answer(c: Clicked, reply: Reply, inv: Invocation, responder: Responder, direct: Direct) -> None:
    """On a card, privately under it; from App Home (which has no response_url), as a
    direct message."""
    if c.response_url and not c.on_home:
        payload = {**message(reply), "response_type": "ephemeral", "replace_original": False}
        responder.send(c.response_url, payload, inv.correlation)
    else:
        direct.tell(c.user_id, reply)


def register(
    app: App,
    engine: Engine,
    responder: Responder,
    client: WebClient,
    homes: HomePublisher,
) -> None:
    direct = Direct(client)

    def acknowledge(ack: Ack) -> None:
        ack()

    def decide(body: dict) -> None:
        c = clicked(body)
        inv = invocation(c, VERBS.get(c.action_id, "approve"))
        answer(c, run(engine, inv), inv, responder, direct)
        if c.on_home:
            homes.refresh(c.user_id)

    def ask_reason(body: dict) -> None:
        """Reject opens a modal for the reason; nothing is decided until it is submitted.
        The modal carries what the click carried, so the submission is bound the same."""
        c = clicked(body)
        rid, nonce = c.request()
        # Who may reject is the engine's to say: a click it would refuse gets its refusal
        # (recorded) instead of a form. The plan decides nothing; only a refusal runs.
        plan = engine.plan(invocation(c, "reject", "asked for a form"))
        if plan.reply is not None:
            answer(c, engine.execute(plan), plan.inv, responder, direct)
            return
        metadata = {
            "id": rid,
            "nonce": nonce,
            "channel": c.channel_id,
            "ts": c.message_ts,
            "home": c.on_home,
        }
        try:
            if not c.trigger_id:
                raise ValueError("no trigger")
            client.views_open(trigger_id=c.trigger_id, view=reject_modal(rid, metadata))
        except Exception as exc:  # the trigger expired, or Slack is away: say how to type it
            log.warning("could not open the reject form: %s", type(exc).__name__)
            typed = f"`/xbooker approvals reject {rid} <reason>`"
            reply = Reply.note(f"Type the rejection instead: {typed}")
            answer(c, reply, invocation(c, "reject"), responder, direct)

    app.action(APPROVE)(ack=acknowledge, lazy=[decide])
    app.action(CANCEL)(ack=acknowledge, lazy=[decide])
    app.action(REJECT)(ack=acknowledge, lazy=[ask_reason])
