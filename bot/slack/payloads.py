"""Replies as Slack message payloads, with the options that keep them inert."""

from __future__ import annotations

from bot.core.replies import Reply


def message(reply: Reply) -> dict:
    """Fields for ``respond``, ``chat.postMessage`` and ``chat.update``. Never
    ``link_names`` or ``parse``: escaped text must stay text."""
    return {
        "text": reply.text,
        "blocks": reply.blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def ack_body(reply: Reply) -> dict:
    return {
        "text": reply.text,
        "blocks": reply.blocks,
        "response_type": "in_channel" if reply.in_channel else "ephemeral",
    }
