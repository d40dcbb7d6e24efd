"""Approval requests in Slack: posted to the approvals channel, updated in place,
reminders posted in each card's thread, and outcomes sent to the requester as a
direct message.

Telling people is never allowed to change what happened: any failure to reach
Slack (an API error, a cut response, a bug in between) is logged and swallowed,
so that it cannot turn a finished execution into an error or an outcome unknown.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.replies import Reply
from bot.slack.payloads import message

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post(self, channel: str, reply: Reply) -> str | None:
        try:
            return self._client.chat_postMessage(channel=channel, **message(reply))["ts"]
        except Exception as exc:  # see the module's docstring
            log.warning("could not post an approval request to %s: %s", channel, why(exc))
            return None

    def update(self, channel: str, ts: str, reply: Reply) -> None:
        try:
            self._client.chat_update(channel=channel, ts=ts, text=reply.text, blocks=reply.blocks)
        except Exception as exc:  # see the module's docstring
            log.warning("could not update approval message %s: %s", ts, why(exc))

    def reply_in_thread(self, channel: str, ts: str, reply: Reply) -> str | None:
        """A reply under the message ``ts`` (not also sent to the channel): its ts, or
        None if Slack did not take it."""
        try:
            answer = self._client.chat_postMessage(channel=channel, thread_ts=ts, **message(reply))
            return answer["ts"]
        except Exception as exc:  # see the module's docstring
            log.warning("could not reply in the thread of %s: %s", ts, why(exc))
            return None

    def direct(self, user_id: str, reply: Reply) -> None:
        try:
            dm = self._client.conversations_open(users=user_id)["channel"]["id"]
            self._client.chat_postMessage(channel=dm, **message(reply))
        except Exception as exc:  # see the module's docstring
            log.warning("could not send a direct message to %s: %s", user_id, why(exc))


def why(exc: Exception) -> str:
    """What Slack said (its error code), or the kind of failure: never the request."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "error"))
    return type(exc).__name__
