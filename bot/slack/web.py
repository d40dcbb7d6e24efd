"""The WSGI application gunicorn serves: ``/slack/events``, ``GET /healthz`` and
``GET /metrics``.

Bolt parses a body before it checks the signature, and answers a body it cannot
parse (``{``, ``payload=%7Bjunk``, invalid UTF-8, a timestamp that is not a
number) with a 500 and a traceback. So every request is checked here first, in
the order that costs an attacker the most: the signature (401, also for a signed
request seen before: a replay), then the body's shape (400). Only a signed,
well-formed request reaches Bolt, whose own signature check is then left off;
Slack's unsigned certificate check (``ssl_check=1``) is answered here.

``/metrics`` is not a Slack request and is answered before the Slack gate (a
Prometheus scraper does not sign); when ``XBOOKER_BOT_METRICS_PORT`` moves it to
a port of its own, this app answers 404 for it. The time Bolt takes to answer each
Slack request is the ack latency the metrics show.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import __version__
from bot.metrics import CONTENT_TYPE, Metrics
from bot.slack.app import DrainingExecutor

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
METRICS_PATH = "/metrics"


MAX_BODY = 1_000_000  # Slack's payloads are far smaller
MAX_SKEW = 300  # seconds, as Slack recommends: an older signed request may be a replay
MAX_SEEN = 100_000


class WebApp:
    def __init__(
        self,
        app: App,
        executor: DrainingExecutor,
        signing_secret: str,
        metrics: Metrics,
        *,
        metrics_here: bool = True,
    ) -> None:
        """``metrics_here``: answer ``/metrics`` on this app's port (False when
        ``XBOOKER_BOT_METRICS_PORT`` gives it a port of its own)."""
        self._slack = SlackRequestHandler(app, path=EVENTS_PATH)
        self.metrics = metrics
        self._metrics_here = metrics_here
        self._secret = signing_secret.encode()
        # Signatures seen in the last MAX_SKEW seconds: a captured request sent again
        # within its freshness window is refused (one gunicorn worker serves them all).
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._seen_lock = threading.Lock()
        self.executor = executor

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path == METRICS_PATH and self._metrics_here:
            if method != "GET":
                return _json(start_response, "405 Method Not Allowed", {"error": "GET only"})
            data = self.metrics.exposition()
            start_response(
                "200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(data)))]
            )
            return [data]
        if path == EVENTS_PATH:
            started = time.perf_counter()  # the ack latency: signature check to Bolt's answer
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "POST only"})
            refusal = self._refusal(environ)
            if refusal == "200 OK":  # Slack's certificate check, answered here, not by Bolt
                return _json(start_response, refusal, {})
            if refusal is not None:
                return _json(start_response, refusal, {"error": refusal[4:].lower()})
            for key in [k for k in environ if k.startswith("HTTP_X_SLACK_BOLT_")]:
                del environ[key]  # Bolt's own internal headers, never a client's to set
            try:
                return self._slack(environ, start_response)
            except Exception as exc:  # a signed body of a shape Bolt does not expect
                log.warning("refused a signed request Bolt could not read: %s", type(exc).__name__)
                return _json(start_response, "400 Bad Request", {"error": "bad request"})
            finally:
                self.metrics.ack_seconds.observe(time.perf_counter() - started)
        if path == "/healthz":
            body = {"ok": True, "version": __version__, "in_flight": self.executor.in_flight()}
            return _json(start_response, "200 OK", body)
        return _json(start_response, "404 Not Found", {"error": "not found"})

    def _refusal(self, environ: dict) -> str | None:
        """Why this request must not reach Bolt (an HTTP status line), or None. The body
        is read here and put back for Bolt."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return "400 Bad Request"
        if not 0 <= length <= MAX_BODY:
            return "413 Payload Too Large"
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        if _ssl_check(raw):
            return "200 OK"
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if not self._signed(raw, timestamp, signature):
            return "401 Unauthorized"
        if not self._first_time(timestamp, signature):
            log.warning("refused a signed request seen before (a replay)")
            return "401 Unauthorized"
        if not _well_formed(raw):
            log.warning("refused a signed request whose body cannot be parsed")
            return "400 Bad Request"
        return None

    def _first_time(self, timestamp: str, signature: str) -> bool:
        now = time.time()
        with self._seen_lock:
            while self._seen and next(iter(self._seen.values())) < now:
                self._seen.popitem(last=False)
            if signature in self._seen:
                return False
            self._seen[signature] = int(timestamp) + MAX_SKEW
            if len(self._seen) > MAX_SEEN:  # a flood: forget the oldest first
                self._seen.popitem(last=False)
            return True

    def _signed(self, raw: bytes, timestamp: str, signature: str) -> bool:
        """Slack's v0 signature over the raw bytes (which need not be valid UTF-8)."""
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        if abs(time.time() - int(timestamp)) > MAX_SKEW:
            return False
        base = b"v0:" + timestamp.encode() + b":" + raw
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def drain(self, timeout: float) -> None:
        """Let work already acked to Slack finish, within ``timeout`` seconds."""
        left = self.executor.drain(timeout)
        if left:
            log.warning("shutdown: %d command(s) still running after %.0f s", left, timeout)
        else:
            log.info("shutdown: all work in flight finished")


def _ssl_check(raw: bytes) -> bool:
    """Slack's unsigned certificate check, and nothing more: a body that also carries a
    command (or a second ``ssl_check`` that Bolt would read instead) must be signed."""
    if b"ssl_check" not in raw:  # every other request: no need to parse it here
        return False
    try:
        form = parse_qs(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return form.get("ssl_check") == ["1"] and set(form) <= {"ssl_check", "token"}


def _well_formed(raw: bytes) -> bool:
    """The body as Bolt will read it: a JSON object if it starts with ``{``, else a form
    whose ``payload`` field, if any, is a JSON object."""
    try:
        body = raw.decode("utf-8")
        if body.startswith("{"):
            return _payload_shape(json.loads(body))
        form = parse_qs(body, keep_blank_values=True, strict_parsing=bool(body))
        if "payload" in form:
            return _payload_shape(json.loads(form["payload"][0]))
    except (UnicodeDecodeError, ValueError):
        return False
    return True


_OBJECTS = ("user", "team", "channel", "container", "message", "view", "enterprise", "event")


def _payload_shape(payload: object) -> bool:
    """The fields Bolt reads before any listener runs have the types it assumes."""
    if not isinstance(payload, dict):
        return False
    if not all(isinstance(payload.get(k), dict | None) for k in _OBJECTS):
        return False
    actions = payload.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
        return False
    return isinstance(payload.get("type", ""), str)


def _json(start_response: Callable, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
