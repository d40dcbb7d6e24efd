"""Replies through ``response_url`` over one pooled HTTP client.

Bolt's ``respond()`` opens a new connection (and, in production, a new TLS
session) for every reply; a pooled client keeps connections to Slack alive,
which is most of the CPU a lookup costs after its ack. The URL comes from a
signed payload, and it is still only ever Slack's (or loopback, for tests):
a forged or mistaken URL never makes the bot post elsewhere.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)


def _allowed(url: str) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
        return True
    try:
        return parts.scheme in ("http", "https") and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Responder:
    def __init__(self, timeout: float = 10.0) -> None:
        self._http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )

    def send(self, url: str, payload: dict, reference: str) -> bool:
        """Post one reply; failures are logged (never with the URL) and reported."""
        if not _allowed(url):
            log.warning("refused to reply to a response_url outside Slack (ref %s)", reference)
            return False
        try:
            response = self._http.post(url, json=payload)
        except httpx.HTTPError as exc:
            log.warning(
                "reply through response_url failed: %s (ref %s)", type(exc).__name__, reference
            )
            return False
        if response.status_code != 200:
            log.warning(
                "reply through response_url failed: HTTP %s %s (ref %s)",
                response.status_code,
                response.text[:100],
                reference,
            )
            return False
        return True

    def close(self) -> None:
        self._http.close()
