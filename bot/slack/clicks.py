"""Who clicked what, and where, from a ``block_actions`` payload.

Buttons live on messages (a card, a paged answer) and on App Home. Slack names the
place differently for each (``channel`` and ``message`` for a message, a
``container`` of type ``view`` for a home tab), and every field may be missing from
a payload that is malformed: each is read defensively, as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.context import Click

# "<request id>:<nonce>"; anything else is not one of our request buttons.
REQUEST_VALUE = re.compile(r"^([0-9]{1,9}):([0-9a-f]{32})$")


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


@dataclass(frozen=True)
class Clicked:
    team_id: str
    user_id: str
    action_id: str
    value: str
    channel_id: str | None
    message_ts: str | None
    on_home: bool
    trigger_id: str | None
    response_url: str | None

    def request(self) -> tuple[int, str]:
        """The request id and nonce a request button carries; (0, "") for junk."""
        found = REQUEST_VALUE.fullmatch(self.value)
        return (int(found.group(1)), found.group(2)) if found else (0, "")

    def click(self, nonce: str) -> Click:
        surface = "home" if self.on_home else "card"
        return Click(nonce, self.channel_id, self.message_ts, surface)


def clicked(body: dict) -> Clicked:
    action = (body.get("actions") or [{}])[0]
    action = action if isinstance(action, dict) else {}
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
    message = body.get("message") if isinstance(body.get("message"), dict) else {}
    team = body.get("team") if isinstance(body.get("team"), dict) else {}
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    view = body.get("view") if isinstance(body.get("view"), dict) else {}
    return Clicked(
        team_id=_text(team.get("id")) or _text(user.get("team_id")) or "",
        user_id=_text(user.get("id")) or "",
        action_id=_text(action.get("action_id")) or "",
        value=(_text(action.get("value")) or "")[:2000],
        channel_id=_text(channel.get("id")) or _text(container.get("channel_id")),
        message_ts=_text(message.get("ts")) or _text(container.get("message_ts")),
        on_home=container.get("type") == "view" and view.get("type") == "home",
        trigger_id=_text(body.get("trigger_id")),
        response_url=_text(body.get("response_url")),
    )
