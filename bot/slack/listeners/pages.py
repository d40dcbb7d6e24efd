"""Previous / Next on paged answers: the button's value is the command that shows
that page, run as if typed (parsed, authorized, audited), and its answer replaces
the message the button was on.

Only paged lists may be asked for this way: a value naming any other command is
refused without running it, since a button should do no more than turn a page.
An answer that is not a page (a refusal after a revoke, an error) is sent as a new
private message, so the page the user had stays in place.
"""

from __future__ import annotations

import logging

from slack_bolt import Ack, App

from bot.core import render
from bot.core.context import Invocation
from bot.core.engine import Engine
from bot.core.parser import ParseError, parse
from bot.core.replies import Reply
from bot.slack.clicks import clicked
from bot.slack.payloads import NEXT, PREVIOUS, message
from bot.slack.responder import Responder

PAGED = ("members list", "approvals list", "audit")
log = logging.getLogger(__name__)


def pageable(text: str) -> bool:
    try:
        parsed = parse(text)
    except ParseError:
        return False
    return parsed.command.name in PAGED and "page" in parsed.args and not parsed.share


def register(app: App, engine: Engine, responder: Responder) -> None:
    def acknowledge(ack: Ack) -> None:
        ack()

    def turn(body: dict) -> None:
        c = clicked(body)
        inv = Invocation(c.team_id, c.user_id, c.value, source="slack", channel_id=c.channel_id)
        if not c.response_url:
            return
        if not pageable(c.value):
            log.warning("a page button carried no page of a list (ref %s)", inv.correlation)
            reply = Reply.note("This button does not turn a page of a list. Nothing was run.")
        else:
            try:
                reply = engine.handle(inv)
            except Exception:  # a bug must still get the clicker an answer
                log.exception("page button failed inside the bot (ref %s)", inv.correlation)
                reply = render.internal_error(inv)
        payload = {
            **message(reply),
            "response_type": "ephemeral",
            "replace_original": reply.pages is not None,
        }
        responder.send(c.response_url, payload, inv.correlation)

    for action_id in (PREVIOUS, NEXT):
        app.action(action_id)(ack=acknowledge, lazy=[turn])
