"""Replies as Slack message payloads, with the options that keep them inert."""

from __future__ import annotations

from bot.core.replies import Pages, Reply

PREVIOUS, NEXT = "page_previous", "page_next"


def message(reply: Reply) -> dict:
    """Fields for ``respond``, ``chat.postMessage`` and ``chat.update``. Never
    ``link_names`` or ``parse``: escaped text must stay text."""
    blocks = reply.blocks
    if reply.pages is not None and (buttons := page_buttons(reply.pages)):
        blocks = [*blocks, buttons]
    return {
        "text": reply.text,
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def page_buttons(pages: Pages) -> dict | None:
    """Previous / Next, each carrying the command that shows its page: a click runs it
    as if typed (parsed, authorized and audited again), so a button can show nothing
    its clicker could not type."""
    elements = [
        {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": label, "emoji": False},
            "value": typed,
        }
        for action_id, label, typed in (
            (PREVIOUS, "◀ Previous", pages.previous),
            (NEXT, "Next ▶", pages.next),
        )
        if typed is not None
    ]
    return {"type": "actions", "block_id": "pages", "elements": elements} if elements else None


def ack_body(reply: Reply) -> dict:
    return {
        "text": reply.text,
        "blocks": message(reply)["blocks"],
        "response_type": "in_channel" if reply.in_channel else "ephemeral",
    }
