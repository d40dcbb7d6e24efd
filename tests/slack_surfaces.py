"""Signed App Home events, home clicks and modal submissions, in Slack's real shapes.

Slack sends a view submission with the whole view it submits (its callback id,
private metadata and blocks, as the app opened it) plus the state of its inputs;
these builders take the view the fake Slack recorded when the bot opened it, as
Slack does.
"""

from __future__ import annotations

import itertools
import json
import time

from tests.slack_requests import action_body, sign
from tests.world import SIGNING_SECRET, TEAM, World

_ids = itertools.count(1)


def home_opened(world: World, user: str, tab: str = "home", team: str = TEAM):
    body = json.dumps(
        {
            "token": "deprecated",
            "team_id": team,
            "api_app_id": "A0XBOOKER",
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": tab,
                "event_ts": f"{time.time():.6f}",
            },
            "type": "event_callback",
            "event_id": f"Ev{next(_ids):06d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}],
        }
    )
    headers = {**sign(SIGNING_SECRET, body), "content-type": "application/json"}
    return world.dispatch(body, headers)


def _view(view_id: str, view: dict, values: dict | None = None) -> dict:
    return {
        **view,
        "id": view_id,
        "team_id": TEAM,
        "state": {"values": values or {}},
        "hash": f"h{next(_ids)}",
        "app_id": "A0XBOOKER",
        "bot_id": "BBOT",
    }


def home_click(world: World, user: str, action_id: str, value: str, block_id: str = "b"):
    """A button on the clicker's App Home: a view container, no channel, no response_url."""
    view = world.slack.views.get(f"home:{user}", {"type": "home", "blocks": []})
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0XBOOKER",
        "token": "deprecated",
        "container": {"type": "view", "view_id": "VHOME"},
        "trigger_id": f"{next(_ids)}.123.abc",
        "team": {"id": TEAM, "domain": "acme"},
        "view": _view("VHOME", view),
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": "x"},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return world.dispatch(action_body(payload))


def message_click(world: World, user: str, action_id: str, value: str, response_url: str):
    """A button on an ephemeral message (a paged answer)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0XBOOKER",
        "token": "deprecated",
        "container": {
            "type": "message",
            "message_ts": "1.0001",
            "channel_id": "C0GENERAL",
            "is_ephemeral": True,
        },
        "trigger_id": f"{next(_ids)}.123.abc",
        "team": {"id": TEAM, "domain": "acme"},
        "channel": {"id": "C0GENERAL", "name": "general"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "pages",
                "text": {"type": "plain_text", "text": "x"},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return world.dispatch(action_body(payload))


def state_of(view: dict, values: dict[str, str]) -> dict:
    """Input state for ``values``, in the element type each input block has."""
    state: dict = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        value = values.get(block["block_id"])
        if element["type"] == "static_select":
            chosen = None
            if value is not None:
                chosen = {"text": {"type": "plain_text", "text": value}, "value": value}
            elif element.get("initial_option"):
                chosen = element["initial_option"]
            state[block["block_id"]] = {
                element["action_id"]: {"type": "static_select", "selected_option": chosen}
            }
        else:
            if value is None:
                value = element.get("initial_value")
            state[block["block_id"]] = {
                element["action_id"]: {"type": "plain_text_input", "value": value}
            }
    return state


def submit(world: World, user: str, view_id: str, values: dict[str, str]):
    """Submit the modal the bot opened as ``view_id``, with ``values`` typed in (inputs
    not named keep what the bot put in them)."""
    view = world.slack.views[view_id]
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0XBOOKER",
        "token": "deprecated",
        "trigger_id": f"{next(_ids)}.123.abc",
        "view": _view(view_id, view, state_of(view, values)),
        "response_urls": [],
    }
    return world.dispatch(action_body(payload))
