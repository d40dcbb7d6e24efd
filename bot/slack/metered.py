"""A Slack ``WebClient`` that reports every failed Web API call, for the metrics.

Every method of the client (``chat_postMessage``, ``views_publish``, ...) goes
through ``api_call``, and a refusal surfaces there as ``SlackApiError`` (Slack
answers most errors with HTTP 200 and ``"ok": false``), so counting there sees
them all, whichever part of the bot made the call and whether or not it swallows
the error afterwards (the notifier does, on purpose).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


class MeteredWebClient(WebClient):
    """``on_error`` listeners are called with the method and Slack's error code (or the
    exception's type when no answer came) for each call that fails."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.on_error: list[Callable[[str, str], None]] = []

    @classmethod
    def like(cls, client: WebClient) -> MeteredWebClient:
        """The same client (token, URL, timeout, retries, proxy), metered."""
        return cls(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            headers=dict(client.headers),
            logger=client.logger,
            retry_handlers=client.retry_handlers,
        )

    def api_call(self, api_method: str, **kwargs):
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            self._failed(api_method, str(exc.response.get("error") or "error"))
            raise
        except Exception as exc:
            self._failed(api_method, type(exc).__name__)
            raise

    def _failed(self, method: str, error: str) -> None:
        for listener in list(self.on_error):
            try:
                listener(method, error)
            except Exception:  # counting must not change what the caller sees
                log.exception("a Slack error listener failed")
