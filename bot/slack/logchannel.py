"""The log channel: a tailer of the audit log that posts one line per row worth seeing.

Why a tailer rather than a post from each command: the audit log already records
every change in the same transaction as the change, so reading it afterwards
misses nothing (a change made by the CLI or another process included), costs the
command path nothing, and survives restarts: the mark of the last row dealt with
is kept in the database (:mod:`bot.store.logmark`).

Each row is claimed before its line is posted (a compare-and-set on the mark), so
processes sharing the database never post a line twice; the price is that a
process dying between the claim and the post loses that one line (it is still in
``audit``). When Slack cannot be reached or asks to slow down, the row is given
back and tried again at the next poll, waiting longer each time (up to a minute);
a post could then appear twice if Slack took it but its answer was lost. When
Slack refuses the post for good (``not_in_channel``, ``channel_not_found``,
``is_archived``, ...), the line is skipped and a warning logged once per kind of
refusal until a post succeeds again: a channel the bot cannot use must not stall
the log for ever, and the rows stay in ``audit``.

Once per UTC day (and when the tailer first starts) it also posts the audit head,
so an operator has a copy of it outside the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core import logline
from bot.core.replies import Reply
from bot.slack.payloads import message
from bot.store import Store, audit, logmark

log = logging.getLogger(__name__)
BATCH = 200  # audit rows read at a time
MAX_BACKOFF = 60.0
# Slack's answers that mean "not now" rather than "never": an outage, or a token or
# workspace problem an operator will fix (lines written meanwhile must not be lost).
TRANSIENT = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "team_access_not_granted",
    }
)


@dataclass(frozen=True)
class Failure:
    """Why a line was not posted; ``lasting``: trying again will not help."""

    error: str
    lasting: bool


class Poster(Protocol):
    """Where lines go: Slack, or (for a console) a terminal. None means posted."""

    def post(self, channel: str, text: str) -> Failure | None: ...


class SlackPoster:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post(self, channel: str, text: str) -> Failure | None:
        try:
            self._client.chat_postMessage(channel=channel, **message(Reply.note(text)))
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "error")
            status = exc.response.status_code
            return Failure(error, lasting=error not in TRANSIENT and status < 500 and status != 429)
        except Exception as exc:  # no answer (connection refused, timeout, cut): try again
            return Failure(type(exc).__name__, lasting=False)
        return None


class LogChannel:
    """Posts the lines of new audit rows, and the daily audit head, to ``channel``."""

    def __init__(
        self,
        store: Store,
        poster: Poster,
        channel: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._poster = poster
        self._channel = channel
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = 0.0  # extra wait after Slack could not be reached
        self._warned: set[str] = set()  # refusals logged since the last post that worked

    # -- one poll ----------------------------------------------------------------------

    def poll(self) -> int:
        """The day's head if it is due, then every audit row written since the last poll;
        returns how many lines were posted. The head goes first, so a backlog of rows
        (or one that cannot be read) never holds it up."""
        return self._daily_head() + self._tail()

    def _tail(self) -> int:
        sent = 0
        mark = logmark.posted(self._store)
        while not self._stop.is_set():
            rows = logmark.rows_after(self._store, mark, BATCH)
            if not rows:
                break
            # Up to the next row worth a line (or the end of the batch), in one claim.
            row, text = next(((r, t) for r in rows if (t := _line(r))), (rows[-1], None))
            if not logmark.advance(self._store, mark, row["id"]):
                mark = logmark.posted(self._store)  # another process took it: go on from there
                continue
            previous, mark = mark, row["id"]
            if text is None:
                continue
            if self._send(text, f"audit row {row['id']}"):
                sent += 1
            elif self._backoff:  # not reached: give the row back, try at the next poll
                if not logmark.advance(self._store, mark, previous):
                    log.warning("log channel: audit row %d was not posted", row["id"])
                break
        return sent

    def _daily_head(self) -> int:
        today = datetime.fromtimestamp(self._clock(), UTC).date().isoformat()
        last = logmark.get(self._store, logmark.HEAD_DAY)
        # Only forward (ISO dates sort as days do): a clock behind another process's, or
        # stepped back, must not post the head again.
        if (last is not None and last >= today) or not logmark.claim(
            self._store, logmark.HEAD_DAY, last, today
        ):
            return 0
        if self._send(logline.head_line(audit.head(self._store)), "the audit head"):
            return 1
        if self._backoff:  # give the day back ("" when none was posted): the next poll tries
            logmark.claim(self._store, logmark.HEAD_DAY, today, last or "")
        return 0

    def _send(self, text: str, what: str) -> bool:
        """Post one line; on failure, log it (once per kind until a post works) and set
        the back-off if trying again may help."""
        failure = self._poster.post(self._channel, text)
        if failure is None:
            if self._warned:
                log.info("log channel: posting to %s works again", self._channel)
            self._warned.clear()
            self._backoff = 0.0
            return True
        if failure.lasting:
            self._backoff = 0.0
            outcome = "skipped"
        else:
            self._backoff = min(MAX_BACKOFF, max(1.0, 2 * self._backoff))
            outcome = f"will try again in {self._backoff:.0f} s"
        level = logging.DEBUG if failure.error in self._warned else logging.WARNING
        self._warned.add(failure.error)
        log.log(
            level,
            "log channel: Slack did not take %s for %s (%s); %s",
            what,
            self._channel,
            failure.error,
            outcome,
        )
        return False

    # -- the thread --------------------------------------------------------------------

    def start(self, interval: float) -> LogChannel:
        """Poll every ``interval`` seconds on a daemon thread (the first poll at once)."""
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="log-channel", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # the database busy or gone for a moment: try again
                log.exception("log channel: a poll failed; trying again")
            self._stop.wait(interval + self._backoff)


def start(
    store: Store,
    client: WebClient,
    channel: str,
    *,
    interval: float = 2.0,
    clock: Callable[[], float] = time.time,
) -> LogChannel:
    """Run the log channel for ``channel`` (XBOOKER_BOT_LOG_CHANNEL) beside the app."""
    return LogChannel(store, SlackPoster(client), channel, clock).start(interval)


def _line(row: dict) -> str | None:
    """The row's line, or None; a row that cannot be worded (a foreign or hand-edited
    detail) is skipped with a warning rather than stopping the channel for good."""
    try:
        return logline.line(row)
    except Exception as exc:  # any shape of detail: the row is in the audit log anyway
        log.warning("log channel: audit row %s cannot be shown (%s); skipped", row.get("id"), exc)
        return None
