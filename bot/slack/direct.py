"""Answers that have no ``response_url`` to go to: form submissions and App Home clicks.

They go where the user acted: privately in the channel the form was opened from,
or else in the user's direct messages with the app (posting to a user ID opens
that conversation). Like every notification, a failure to deliver is logged and
swallowed: it cannot undo or repeat what was done.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.core.replies import Reply
from bot.slack.notifier import why
from bot.slack.payloads import message

log = logging.getLogger(__name__)


class Direct:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def tell(self, user_id: str, reply: Reply, channel: str | None = None) -> None:
        if channel is not None:
            try:
                self._client.chat_postEphemeral(channel=channel, user=user_id, **message(reply))
                return
            except Exception as exc:  # not in that channel any more: the DM still works
                log.info("could not answer in %s (%s); sending a DM instead", channel, why(exc))
        try:
            self._client.chat_postMessage(channel=user_id, **message(reply))
        except Exception as exc:  # see the module's docstring
            log.warning("could not send a direct message to %s: %s", user_id, why(exc))
