"""Requests signed exactly as Slack signs them, with payloads in Slack's real encoding."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from itertools import count
from urllib.parse import quote, urlencode

_trigger = count(1)


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": f"v0={digest}",
    }


def command_body(text: str, user: str, team: str, channel: str, response_url: str) -> str:
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": team,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/xbooker",
            "text": text,
            "api_app_id": "A0XBOOKER",
            "response_url": response_url,
            "trigger_id": f"{next(_trigger)}.{int(time.time())}.abcdef",
        }
    )


def action_body(payload: dict) -> str:
    return "payload=" + quote(json.dumps(payload))
