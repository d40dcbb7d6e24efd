"""Replies through ``response_url`` over pooled connections (:mod:`bot.httppool`).

Bolt's ``respond()`` opens a new connection (and, in production, a new TLS
session) for every reply, which would be most of the CPU a lookup costs after its
ack; pooled connections to Slack stay alive between replies. The URL comes from a
signed payload, and it is still only ever Slack's (or loopback, for tests):
a forged or mistaken URL never makes the bot post elsewhere.

When Slack refuses a reply (a 4xx such as ``invalid_blocks`` or
``msg_blocks_too_long``), the user would otherwise see nothing at all: the
reply is sent once more as plain text saying what failed.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from urllib.parse import urlsplit

import httpx

from bot import __version__
from bot.core.replies import code
from bot.core.text import clip
from bot.httppool import Transports, sent

log = logging.getLogger(__name__)
_HEADERS = {"User-Agent": f"xbooker-bot/{__version__}"}


def _allowed(url: str) -> bool:
    parts = urlsplit(url)
    return _allowed_host(parts.scheme, parts.hostname or "")


@functools.lru_cache(maxsize=256)
def _allowed_host(scheme: str, host: str) -> bool:
    """Per host, not per reply: every reply goes to one of a handful of hosts."""
    if scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
        return True
    try:
        return scheme in ("http", "https") and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Responder:
    def __init__(self, timeout: float = 10.0) -> None:
        # Transports, not clients: a reply needs none of what a client adds (base URL,
        # cookies, auth, redirects, which must not be followed anyway), and the client's
        # layers cost a reply about as much CPU as the transport's own work.
        self._transports = Transports()
        self._timeout = httpx.Timeout(timeout).as_dict()

    def send(self, url: str, payload: dict, reference: str) -> bool:
        """Post one reply; failures are logged (never with the URL) and reported."""
        if not _allowed(url):
            log.warning("refused to reply to a response_url outside Slack (ref %s)", reference)
            return False
        refused = self._post(url, payload, reference)
        if refused is None:
            return True
        if not refused or not payload.get("blocks"):
            return False
        text = (
            f"{payload.get('text', '')}\n:warning: The full answer could not be shown here "
            f"(Slack said {code(refused)}). Reference: {code(reference)}"
        )
        fallback = {k: v for k, v in payload.items() if k != "blocks"} | {"text": text}
        return self._post(url, fallback, reference) is None

    def _post(self, url: str, payload: dict, reference: str) -> str | None:
        """None when Slack took it; Slack's reason when it refused it (a 4xx, worth one
        text-only retry); "" when anything else went wrong."""
        try:
            timeout = {"timeout": self._timeout}
            request = httpx.Request("POST", url, json=payload, headers=_HEADERS, extensions=timeout)
            response = self._transports.use(request.url, lambda lent: sent(lent, request))
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            log.warning(
                "reply through response_url failed: %s (ref %s)", type(exc).__name__, reference
            )
            return ""
        if response.status_code == 200:
            return None
        reason = clip(response.text, 60)
        log.warning(
            "reply through response_url failed: HTTP %s %s (ref %s)",
            response.status_code,
            reason,
            reference,
        )
        return (reason or f"HTTP {response.status_code}") if response.status_code < 500 else ""

    def close(self) -> None:
        self._transports.close()
