"""Logging set-up: one line per event, with every secret scrubbed on the way out.

Three libraries we depend on log things we must never write: Bolt logs the whole
request body (with its ``response_url``) on a bad signature, httpx logs full URLs
at INFO, and slack_sdk logs request and response bodies at DEBUG. Rather than
trusting each call site, the log-record factory rewrites every record as it is
made, before any handler (ours, gunicorn's or pytest's) sees it: known secret
values (registered by :class:`bot.secret.Secret`) and anything that looks like a
bearer token, Slack token or Slack ``response_url`` are replaced.

Known values are matched by one compiled alternation, so its size is the cost of
every log line and of every rebuild. Long-lived secrets (the client secret, refresh
tokens, Slack tokens) are few and kept for good; access tokens are minted every
couple of minutes for as long as the bot runs, so they are registered with an
expiry and forgotten once it has passed: the pattern stays as small as the set
of tokens that are still worth stealing.

With ``LOG_FORMAT=json`` each record is one JSON object on one line (time,
level, logger, message, correlation id and command). The correlation id and the
command come from :func:`command_scope`, which the engine opens around the work
of each command on the thread doing it; the record factory stamps them on every
record made inside it, whichever library logs.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

_REDACTED = "[redacted]"
# value -> deadline on time.monotonic's clock, or None for a secret kept for good.
_known: dict[str, float | None] = {}
_known_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None

_GENERIC = [
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]+",
    r"xox[abposre]-[A-Za-z0-9-]+",
    r"xapp-[A-Za-z0-9-]+",
    r"https?://hooks\.slack\.com/[^\s'\"]+",
    r"(?i:response_url)[\"']?\s*[:=]\s*[\"']?[^\s&'\",}]+",
    r"(?i:client[-_]secret)[\"']?\s*[:=]\s*[\"']?[^\s&'\",}]+",
]


def register_secret(
    value: str, *, expires_at: float | None = None, now: float | None = None
) -> None:
    """Remember a secret value so that the filter scrubs it wherever it appears.

    With ``expires_at`` (on ``time.monotonic``'s clock) the value is forgotten once
    that time has passed; without, it is kept for good. Expired values are dropped
    here, on registration, which is when the pattern is rebuilt anyway, so scrubbing
    never pays for it. ``now`` is the current time on the same clock (default:
    ``time.monotonic()``).

    A value that is already known keeps its lifetime when registered again without
    an expiry: :class:`bot.secret.Secret` registers every value it wraps, so a
    short-lived token is registered with its expiry *before* it is wrapped. A later
    expiry extends a temporary value; nothing shortens a value kept for good.
    """
    global _pattern
    if len(value) < 6:
        # Too short to scrub without mangling ordinary words; such values are
        # rejected by configuration anyway.
        return
    with _known_lock:
        if value in _known:
            current = _known[value]
            if expires_at is None or current is None or current >= expires_at:
                return
            _known[value] = expires_at  # a later deadline; the pattern is unchanged
            return
        moment = time.monotonic() if now is None else now
        expired = [v for v, until in _known.items() if until is not None and until <= moment]
        for v in expired:
            del _known[v]
        _known[value] = expires_at
        _pattern = None


def _compiled() -> re.Pattern[str]:
    global _pattern
    pattern = _pattern
    if pattern is None:
        with _known_lock:
            literal = sorted(_known, key=len, reverse=True)
            parts = [re.escape(v) for v in literal] + _GENERIC
            pattern = re.compile("|".join(f"(?:{p})" for p in parts))
            _pattern = pattern
    return pattern


def scrub(text: str) -> str:
    """Return ``text`` with every known or recognisable secret replaced."""
    return _compiled().sub(_REDACTED, text)


# (correlation id, command) of the command this thread is working on, if any.
_scope: contextvars.ContextVar[tuple[str, str | None] | None] = contextvars.ContextVar(
    "xbooker_bot_command", default=None
)


@contextlib.contextmanager
def command_scope(correlation: str, command: str | None) -> Iterator[None]:
    """Stamp every record made inside on this thread with the command's correlation id
    and name. Scopes nest; leaving one restores the outer one, so a pool thread never
    carries a finished command's id into the next."""
    token = _scope.set((correlation, command))
    try:
        yield
    finally:
        _scope.reset(token)


def _redact(record: logging.LogRecord) -> None:
    """Format the record's message early and scrub it, args and traceback included."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed log call must not crash the request
        message = str(record.msg)
    record.msg = _LINE_BREAKS.sub(" ", scrub(message))
    record.correlation, record.command = _scope.get() or (None, None)
    record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        # Tracebacks are formatted later from exc_info; render and scrub now.
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None


FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Everything a line reader (``str.splitlines``, log shippers) splits lines at.
_LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


class JsonFormatter(logging.Formatter):
    """One JSON object per record. The message is the scrubbed one the record factory
    left (args already merged); a traceback, scrubbed the same way, goes in
    ``exception`` as one string, so a record is always one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation": getattr(record, "correlation", None),
            "command": getattr(record, "command", None),
        }
        if record.exc_text:
            line["exception"] = record.exc_text
        # ASCII escapes: U+2028 and friends stay inside the string as \u2028.
        return json.dumps(line)


# Loggers whose lower levels print request URLs, bodies or headers.
_QUIET = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "slack_sdk": logging.INFO,
    "slack_bolt.RequestVerification": logging.WARNING,
    "urllib3": logging.WARNING,
    "websocket": logging.WARNING,
    "websockets": logging.WARNING,
}


def setup(level: str = "INFO", stream=None, fmt: str = "text") -> None:
    """Configure root logging once: scrubbed, one line per event (``fmt`` text or json),
    to stderr."""
    root = logging.getLogger()
    root.setLevel(level)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT))
    for old in list(root.handlers):
        if getattr(old, "_xbooker_bot", False):
            root.removeHandler(old)
    handler._xbooker_bot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    quiet_libraries(level)
    install_record_filter()


def quiet_libraries(level: str | int = "INFO") -> None:
    """Keep the chatty libraries at WARNING whatever LOG_LEVEL says. Called again
    after building a Bolt app, which copies its own logger's level onto
    ``slack_bolt.RequestVerification`` (the logger that prints request bodies)."""
    number = level if isinstance(level, int) else logging.getLevelName(level)
    for name, floor in _QUIET.items():
        logging.getLogger(name).setLevel(max(floor, number))


def install_record_filter() -> None:
    """Scrub every record as it is made; idempotent."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        _redact(record)
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


_factory_installed = False
